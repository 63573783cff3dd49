-- Merchant dashboard users (email + scrypt password, set through an emailed link) and
-- technical service provider authorizations (binance-pay.md §7).

CREATE TABLE merchant_users (
  id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  email text NOT NULL UNIQUE,
  password_hash text,                           -- null until the emailed set-password link is used
  created_at bigint NOT NULL
);
CREATE INDEX merchant_users_merchant ON merchant_users (merchant_id);

CREATE TABLE merchant_user_links (
  token_hash text PRIMARY KEY,                  -- sha256 of the token in the emailed link
  user_id bigint NOT NULL REFERENCES merchant_users (id),
  expires_at bigint NOT NULL,
  used_at bigint
);

CREATE TABLE tsp_authorizations (
  id bigint PRIMARY KEY,                        -- authorizationId (snowflake)
  tsp_merchant_id bigint NOT NULL REFERENCES merchants (id),
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  status text NOT NULL CHECK (status IN ('PENDING', 'AUTHORIZED', 'REJECTED', 'DISABLED')),
  source text NOT NULL CHECK (source IN ('API', 'MANUAL')),
  scopes jsonb NOT NULL,
  ip_whitelist jsonb NOT NULL,
  token_hash text NOT NULL UNIQUE,              -- sha256 of authorizationToken: the lookup on every on-behalf call
  token_sealed text NOT NULL,                   -- AES-GCM: the token itself goes into webhooks and the Details page
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,                   -- review deadline of a PENDING request (24 h)
  decided_at bigint,
  updated_at bigint NOT NULL
);
CREATE INDEX tsp_authorizations_tsp ON tsp_authorizations (tsp_merchant_id, id);
CREATE INDEX tsp_authorizations_merchant ON tsp_authorizations (merchant_id, id);
CREATE INDEX tsp_authorizations_pending ON tsp_authorizations (expires_at) WHERE status = 'PENDING';
-- At most one AUTHORIZED authorization per (TSP, merchant) (spec §7.3).
CREATE UNIQUE INDEX tsp_authorizations_one_active ON tsp_authorizations (tsp_merchant_id, merchant_id) WHERE status = 'AUTHORIZED';
