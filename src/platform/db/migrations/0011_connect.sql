-- Binance Connect (src/connect): business partners of this environment, their RSA public keys, portal
-- password links, and partner orders. A deployment is one environment (sandbox = test, production).

CREATE TABLE connect_partners (
  code text PRIMARY KEY,                        -- merchantCode on the wire
  name text NOT NULL,
  email text NOT NULL UNIQUE,                   -- admin-portal login, lower case
  status text NOT NULL DEFAULT 'ACTIVE',        -- ACTIVE | DISABLED
  ip_whitelist jsonb NOT NULL DEFAULT '[]',
  redirect_domains jsonb NOT NULL DEFAULT '[]',
  webhook_url text,
  success_code text NOT NULL DEFAULT '000000',
  fee_pct numeric NOT NULL,                     -- userFee = max(min_fee_usd in fiat, fee_pct * fiatAmount)
  min_fee_usd numeric NOT NULL,
  spread numeric NOT NULL,                      -- quotePrice = reference price * (1 + spread)
  password_hash text,                           -- null until the emailed link is used
  created_at bigint NOT NULL
);

CREATE TABLE connect_partner_keys (
  id bigint PRIMARY KEY,
  partner_code text NOT NULL REFERENCES connect_partners (code),
  public_pem text NOT NULL,
  fingerprint text NOT NULL,                    -- sha256 of the DER SubjectPublicKeyInfo
  bits integer NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint                             -- null: active until replaced; set when a newer key starts an overlap
);
CREATE INDEX connect_partner_keys_partner ON connect_partner_keys (partner_code, id);

CREATE TABLE connect_password_links (
  token_hash text PRIMARY KEY,                  -- sha256 of the emailed token
  partner_code text NOT NULL REFERENCES connect_partners (code),
  expires_at bigint NOT NULL,
  used_at bigint
);

CREATE TABLE connect_orders (
  order_id text PRIMARY KEY,                    -- CNT + 29 hex
  partner_code text NOT NULL REFERENCES connect_partners (code),
  merchant_order_id text NOT NULL,
  merchant_user_id text,
  business_type text NOT NULL,
  fiat_currency text NOT NULL,
  crypto_currency text NOT NULL,
  crypto_network text NOT NULL,
  crypto_address text NOT NULL,
  crypto_address_memo text NOT NULL DEFAULT '',
  order_amount numeric NOT NULL,
  user_fee numeric NOT NULL,
  network_fee numeric NOT NULL,
  quote_price numeric NOT NULL,                 -- indicative at creation; the price is locked in the buy flow
  execute_price numeric NOT NULL DEFAULT 0,
  obtain_amount numeric NOT NULL DEFAULT 0,
  main_status text NOT NULL,
  sub_status text NOT NULL,
  error_code text,
  error_reason text,
  withdraw_tx_hash text,
  token_hash text NOT NULL UNIQUE,              -- sha256 of the buy-flow link token
  merchant_redirect_url text,
  merchant_note text,
  client_user_ip text,
  expired_time bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  UNIQUE (partner_code, merchant_order_id)
);
CREATE INDEX connect_orders_partner_created ON connect_orders (partner_code, created_at);
CREATE INDEX connect_orders_expiry ON connect_orders (expired_time) WHERE main_status = 'INIT';
