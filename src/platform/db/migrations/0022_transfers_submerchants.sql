-- Wallet transfers and sub-merchants (binance-pay-extended.md §11, §12).

-- §11: one row per transfer, keyed by the merchant's requestId (= tranId). The fingerprint of the request's
-- parameters is stored with it (§9.4): a replay with the same one gets this row, any other parameters 400102.
-- `amount_sent` is the amount as the request wrote it (echoed on the wire); `amount` the value moved.
CREATE TABLE pay_wallet_transfers (
  merchant_id bigint NOT NULL,
  request_id text NOT NULL,
  fingerprint text NOT NULL,
  creator_merchant_id bigint NOT NULL,
  currency text NOT NULL,
  amount numeric(38, 8) NOT NULL,
  amount_sent text NOT NULL,
  transfer_type text NOT NULL CHECK (transfer_type IN ('TO_MAIN', 'TO_PAY')),
  status text NOT NULL CHECK (status IN ('SUCCESS', 'FAILURE')),
  created_at bigint NOT NULL,
  PRIMARY KEY (merchant_id, request_id)
);

-- §12: a channel partner's sub-merchants. Ids are 16 digits and below 2^53 (§9.3, the published sample).
-- `profile` holds every §12.1 field as stored (absent fields are absent); the name is also a column for the
-- case-insensitive uniqueness among one partner's sub-merchants.
CREATE SEQUENCE pay_sub_merchant_id_seq START 2107268400000001;
CREATE TABLE pay_sub_merchants (
  id bigint PRIMARY KEY DEFAULT nextval('pay_sub_merchant_id_seq'),
  merchant_id bigint NOT NULL,
  merchant_name text NOT NULL,
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
  profile jsonb NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX pay_sub_merchants_name ON pay_sub_merchants (merchant_id, lower(merchant_name));

-- §12.4, §12.5: the sub-merchant an order is tagged with (a label: the money is the partner's).
ALTER TABLE pay_orders ADD COLUMN sub_merchant_id bigint;

-- §12.5 blockPayerKycCountries needs the payer's KYC country: ISO 3166-1 alpha-2, NULL when unknown (never blocked).
ALTER TABLE payers ADD COLUMN country text;
