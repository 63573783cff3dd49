-- Convert and profit sharing (binance-pay-extended.md §15, §16).

-- §15.5: the operator's convert pairs. `fixed_rate` NULL = the mid price comes from the price source (USD valuation
-- of both assets); `spread_bps` is taken off the mid (ratio = mid × (1 − spread)).
CREATE TABLE pay_convert_pairs (
  from_asset text NOT NULL,
  to_asset text NOT NULL,
  enabled boolean NOT NULL,
  from_min numeric(38, 8) NOT NULL,
  from_max numeric(38, 8) NOT NULL,
  to_min numeric(38, 8) NOT NULL,
  to_max numeric(38, 8) NOT NULL,
  fixed_rate numeric(38, 18),
  spread_bps integer NOT NULL CHECK (spread_bps BETWEEN 0 AND 9999),
  base boolean NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (from_asset, to_asset)
);
-- One row once the operator has set the pairs: until then a sandbox uses its built-in defaults.
CREATE TABLE pay_convert_settings (
  id integer PRIMARY KEY CHECK (id = 1),
  configured_at bigint NOT NULL
);

-- §15.2: a quote with a quoteId (one the wallet covered when it was given); it binds the rate until expire_time.
CREATE TABLE pay_convert_quotes (
  quote_id text PRIMARY KEY,
  merchant_id bigint NOT NULL,
  creator_merchant_id bigint NOT NULL,
  wallet text NOT NULL CHECK (wallet IN ('FUNDING_WALLET', 'SPOT_WALLET')),
  from_asset text NOT NULL,
  to_asset text NOT NULL,
  from_amount numeric(38, 8) NOT NULL,
  to_amount numeric(38, 8) NOT NULL,
  ratio numeric(38, 18) NOT NULL,
  inverse_ratio numeric(38, 18) NOT NULL,
  created_at bigint NOT NULL,
  expire_time bigint NOT NULL
);

-- §15.3: at most one order per quote (the unique quote_id is what makes an executed quote never execute twice).
-- Order ids are 19 digits like the published sample.
CREATE SEQUENCE pay_convert_order_id_seq START 1309477640981204290;
CREATE TABLE pay_convert_orders (
  order_id bigint PRIMARY KEY DEFAULT nextval('pay_convert_order_id_seq'),
  quote_id text NOT NULL UNIQUE REFERENCES pay_convert_quotes (quote_id),
  merchant_id bigint NOT NULL,
  wallet text NOT NULL,
  from_asset text NOT NULL,
  to_asset text NOT NULL,
  from_amount numeric(38, 8) NOT NULL,
  to_amount numeric(38, 8) NOT NULL,
  ratio numeric(38, 18) NOT NULL,
  inverse_ratio numeric(38, 18) NOT NULL,
  status text NOT NULL CHECK (status IN ('SUCCESS', 'FAIL')),
  created_at bigint NOT NULL
);
CREATE INDEX pay_convert_orders_merchant ON pay_convert_orders (merchant_id, created_at DESC);

-- §16.1: a merchant's profit-sharing receivers (payer ids), in registration order (id).
CREATE TABLE pay_ps_receivers (
  id bigserial PRIMARY KEY,
  merchant_id bigint NOT NULL,
  account bigint NOT NULL,
  created_at bigint NOT NULL,
  UNIQUE (merchant_id, account)
);

-- §16.2: a split of one order, keyed by the merchant's merchantRequestId with the fingerprint of its parameters.
-- status: 0 WAITING, 1 PROCESSING, 2 FINISHED.
CREATE TABLE pay_ps_splits (
  split_order_no bigint PRIMARY KEY,
  merchant_id bigint NOT NULL,
  creator_merchant_id bigint NOT NULL,
  merchant_request_id text NOT NULL,
  fingerprint text NOT NULL,
  prepay_id bigint NOT NULL,
  currency text NOT NULL,
  status smallint NOT NULL CHECK (status IN (0, 1, 2)),
  created_at bigint NOT NULL,
  UNIQUE (merchant_id, merchant_request_id)
);
CREATE INDEX pay_ps_splits_order ON pay_ps_splits (prepay_id);
-- One detail per receiver of a split; status: 1 PROCESSING, 2 SUCCESS, 3 FAIL. `amount_sent` is the amount as the
-- request wrote it (the fingerprint normalizes it).
CREATE TABLE pay_ps_split_details (
  detail_id bigint PRIMARY KEY,
  split_order_no bigint NOT NULL REFERENCES pay_ps_splits (split_order_no),
  position integer NOT NULL,
  account bigint NOT NULL,
  amount numeric(38, 8) NOT NULL,
  description text NOT NULL,
  webhook_url text,
  status smallint NOT NULL CHECK (status IN (1, 2, 3)),
  fail_reason text NOT NULL,
  finish_time bigint,
  UNIQUE (split_order_no, position)
);

-- §16.4: a return of split money, keyed by the merchant's merchantReturnNo. status: 1 PROCESSING, 2 SUCCESS, 3 FAIL.
CREATE TABLE pay_ps_returns (
  return_order_no bigint PRIMARY KEY,
  merchant_id bigint NOT NULL,
  merchant_return_no text NOT NULL,
  fingerprint text NOT NULL,
  prepay_id bigint NOT NULL,
  split_order_no bigint NOT NULL REFERENCES pay_ps_splits (split_order_no),
  transfer_out_account bigint NOT NULL,
  return_amount numeric(38, 8) NOT NULL,
  description text,
  webhook_url text,
  status smallint NOT NULL CHECK (status IN (1, 2, 3)),
  fail_reason text,
  finish_time bigint,
  created_at bigint NOT NULL,
  UNIQUE (merchant_id, merchant_return_no)
);
CREATE INDEX pay_ps_returns_split ON pay_ps_returns (split_order_no, transfer_out_account);
