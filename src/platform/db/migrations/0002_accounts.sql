-- Merchants, their API keys, sandbox payers, browser sessions.

CREATE SEQUENCE merchant_id_seq START 1000135331248;
CREATE SEQUENCE payer_id_seq START 1000140001234;

CREATE TABLE merchants (
  id bigint PRIMARY KEY DEFAULT nextval('merchant_id_seq'),
  name text NOT NULL,
  status text NOT NULL DEFAULT 'ACTIVE',
  webhook_url text,
  tsp_allow_scopes jsonb,                       -- null: not a technical service provider
  tsp_allow_fee_share boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL
);

CREATE TABLE merchant_api_keys (
  api_key text PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  secret_sealed text NOT NULL,                  -- AES-GCM under SECRETS_KEY: HMAC verification needs the secret itself
  ip_whitelist jsonb NOT NULL DEFAULT '[]',
  status text NOT NULL DEFAULT 'ACTIVE',
  created_at bigint NOT NULL,
  revoked_at bigint
);
CREATE INDEX merchant_api_keys_merchant ON merchant_api_keys (merchant_id);

CREATE TABLE payers (
  id bigint PRIMARY KEY DEFAULT nextval('payer_id_seq'),
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  created_at bigint NOT NULL
);

CREATE TABLE sessions (
  id_hash text PRIMARY KEY,                     -- sha256 of the cookie value
  subject_type text NOT NULL,
  subject_id text NOT NULL,
  csrf_token text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
