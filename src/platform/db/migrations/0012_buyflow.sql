-- Cards (src/cards): sandbox acquirer tokens and charges. No PAN or CVV is ever stored.
CREATE TABLE card_tokens (
  token text PRIMARY KEY,
  behavior text NOT NULL,                       -- sandbox test-card behaviour: approve | decline | insufficient | challenge
  brand text NOT NULL,
  last4 text NOT NULL,
  issuer_country text,
  created_at bigint NOT NULL
);

CREATE TABLE card_charges (
  id text PRIMARY KEY,
  ref text NOT NULL UNIQUE,                     -- caller's idempotency key
  token text NOT NULL,
  amount numeric NOT NULL,
  currency text NOT NULL,
  status text NOT NULL,                         -- APPROVED | DECLINED | INSUFFICIENT_FUNDS | CHALLENGE | THREE_DS_FAILED | REFUNDED
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

-- Connect hosted buy flow (src/connect/buyflow): its users, verification codes, bindings to partner user ids,
-- saved cards and the per-order buy-flow state (locked quote, confirmation time for the rolling limit).
CREATE TABLE buyflow_users (
  id bigint PRIMARY KEY,
  identifier text NOT NULL UNIQUE,              -- lower-case email or +E.164 phone
  identifier_kind text NOT NULL CHECK (identifier_kind IN ('email', 'phone')),
  password_hash text NOT NULL,                  -- scrypt
  verified_at bigint,
  consent_version text,
  consent_at bigint,
  marketing_opt_in boolean NOT NULL DEFAULT false,
  country text,                                 -- KYC country of residence
  kyc_level text NOT NULL DEFAULT 'NONE' CHECK (kyc_level IN ('NONE', 'VERIFIED', 'VERIFIED_PLUS')),
  kyc_source text,                              -- buyflow | shared
  kyc_record_id bigint,
  created_at bigint NOT NULL
);

CREATE TABLE buyflow_codes (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES buyflow_users (id),
  code_hash text NOT NULL,
  expires_at bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  consumed_at bigint,
  created_at bigint NOT NULL
);
CREATE INDEX buyflow_codes_user ON buyflow_codes (user_id, created_at);

CREATE TABLE buyflow_bindings (
  partner_code text NOT NULL,
  merchant_user_id text NOT NULL,
  user_id bigint NOT NULL REFERENCES buyflow_users (id),
  created_at bigint NOT NULL,
  PRIMARY KEY (partner_code, merchant_user_id)
);

CREATE TABLE buyflow_cards (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES buyflow_users (id),
  acquirer_token text NOT NULL,
  brand text NOT NULL,
  last4 text NOT NULL,
  exp_month integer NOT NULL,
  exp_year integer NOT NULL,
  name_sealed text NOT NULL,                    -- cardholder name, encrypted
  created_at bigint NOT NULL
);
CREATE INDEX buyflow_cards_user ON buyflow_cards (user_id, id);

CREATE TABLE buyflow_orders (
  order_id text PRIMARY KEY,                    -- connect_orders.order_id
  user_id bigint NOT NULL REFERENCES buyflow_users (id),
  card_id bigint REFERENCES buyflow_cards (id),
  quote_price numeric,
  user_fee numeric,
  network_fee numeric,
  crypto_amount numeric,
  quote_expires_at bigint,
  confirmed_at bigint,
  usd_amount numeric,                           -- order amount in USD at confirm (rolling limit)
  payment_attempts integer NOT NULL DEFAULT 0,
  charge_id text,
  withdrawal_id text,
  created_at bigint NOT NULL
);
CREATE INDEX buyflow_orders_user_confirmed ON buyflow_orders (user_id, confirmed_at);
