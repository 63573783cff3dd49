-- Binance Pay: request nonces and orders.

CREATE TABLE pay_nonces (
  api_key text NOT NULL,
  nonce text NOT NULL,
  seen_at bigint NOT NULL,                      -- wall clock ms
  PRIMARY KEY (api_key, nonce)
);
CREATE INDEX pay_nonces_seen ON pay_nonces (seen_at);

CREATE TABLE pay_orders (
  prepay_id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  creator_merchant_id bigint NOT NULL,          -- the TSP when created on a merchant's behalf
  merchant_trade_no text NOT NULL,
  api_version text NOT NULL,                    -- v1 | v2 | v3
  status text NOT NULL,
  terminal_type text NOT NULL,
  currency text NOT NULL,
  order_amount numeric(38, 8) NOT NULL,
  fiat_currency text,
  fiat_amount numeric(38, 8),
  price_currency_usd numeric(38, 18),           -- rates used to price a fiat order, kept as used
  price_fiat_usd numeric(38, 18),
  description text,
  goods jsonb NOT NULL,
  product_type text NOT NULL,
  product_name text NOT NULL,
  product_detail text,
  support_pay_currency text,
  return_url text,
  cancel_url text,
  webhook_url text,
  pass_through_info text,
  universal_url_attach text,
  extra jsonb NOT NULL DEFAULT '{}',
  checkout_token text NOT NULL UNIQUE,
  create_time bigint NOT NULL,
  expire_time bigint NOT NULL,
  transact_time bigint,
  transaction_id text,
  payer_id bigint,
  open_user_id text,
  commission numeric(38, 8),
  payment_info jsonb,
  closed_time bigint,
  UNIQUE (merchant_id, merchant_trade_no)
);
CREATE INDEX pay_orders_expiry ON pay_orders (expire_time) WHERE status IN ('INITIAL', 'PENDING');
CREATE INDEX pay_orders_merchant_time ON pay_orders (merchant_id, create_time);
