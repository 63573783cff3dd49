-- Share account id and static merchant QR codes (binance-pay-extended.md §17.2, §17.3).

-- §17.2: a merchant's request to see a user's account id, keyed by its requestId (§9.4, with the fingerprint of the
-- request's parameters). `token` names the consent page; the request is PENDING until the user agrees or declines,
-- or its expire_time (15 minutes, business clock) passes.
CREATE TABLE pay_share_requests (
  id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL,
  creator_merchant_id bigint NOT NULL,
  request_id text NOT NULL,
  fingerprint text NOT NULL,
  sub_merchant_id bigint,
  webhook_url text,
  token text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'AGREED', 'DECLINED')),
  payer_id bigint,
  expire_time bigint NOT NULL,
  created_at bigint NOT NULL,
  decided_at bigint,
  UNIQUE (merchant_id, request_id)
);

-- §17.3: the static codes a merchant registers in the dashboard; a FIXED_AMOUNT code carries its amount and currency.
CREATE TABLE pay_merchant_qr_codes (
  code text PRIMARY KEY,
  merchant_id bigint NOT NULL,
  qr_type text NOT NULL CHECK (qr_type IN ('FIXED_AMOUNT', 'USER_INPUT_AMOUNT')),
  label text NOT NULL,
  amount numeric(38, 8),
  currency text,
  created_at bigint NOT NULL,
  CHECK ((qr_type = 'FIXED_AMOUNT') = (amount IS NOT NULL AND currency IS NOT NULL))
);
CREATE INDEX pay_merchant_qr_codes_merchant ON pay_merchant_qr_codes (merchant_id, created_at);

-- One scan of a code by a logged-in user (the referId of the MERCHANT_QR_CODE webhook). An order may name it for 5
-- minutes: create order claims it (claimed_trade_no, so two orders racing for one scan cannot both pass), then links
-- it (prepay_id); a claim whose order never came lapses.
CREATE TABLE pay_merchant_qr_scans (
  refer_id bigint PRIMARY KEY,
  code text NOT NULL REFERENCES pay_merchant_qr_codes (code),
  merchant_id bigint NOT NULL,
  payer_id bigint NOT NULL,
  scanned_at bigint NOT NULL,
  expire_time bigint NOT NULL,
  claimed_trade_no text,
  claimed_at bigint,
  prepay_id bigint UNIQUE
);

-- Every order created with a qrCodeReferId, linked or not: such an order is payable only by the user of the scan it
-- is linked to, and by nobody if it lost the scan to another order.
CREATE TABLE pay_merchant_qr_orders (
  prepay_id bigint PRIMARY KEY,
  refer_id bigint NOT NULL
);
