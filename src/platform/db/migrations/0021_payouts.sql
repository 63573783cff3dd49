-- Batch payout (binance-pay-extended.md §10), owned by src/pay/payouts.
--
-- A payer's KYC status (accounts): whether a payout may be credited to them. Existing payers were funded and used as
-- verified wallet holders, so the default is PASS; the sandbox can create an unverified one and decide it later
-- (/sandbox/v1/payers kycStatus, /sandbox/v1/kyc/{payerId}/decision).
ALTER TABLE payers ADD COLUMN kyc_status text NOT NULL DEFAULT 'PASS';

-- One row per batch. `status` is the published batchStatus and the step of the batch machine
-- (src/pay/payouts/service.ts): ACCEPTED and PROCESSING have work (`due_at`, business clock), the four finals none.
-- `fingerprint` is the §9.4 request fingerprint, stored with the key under UNIQUE (merchant_id, request_id); the stored
-- answer of a create is always {requestId, status: ACCEPTED}, so nothing else needs keeping.
CREATE TABLE pay_payout_batches (
  batch_id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL,
  creator_merchant_id bigint NOT NULL,
  request_id text NOT NULL,
  fingerprint text NOT NULL,
  batch_name text NOT NULL,
  biz_scene text NOT NULL,
  currency text NOT NULL,
  total_amount numeric(38, 8) NOT NULL,
  total_number integer NOT NULL,
  webhook_url text,
  sub_merchant_id text,
  status text NOT NULL CHECK (status IN ('ACCEPTED', 'PROCESSING', 'SUCCESS', 'PART_SUCCESS', 'FAILED', 'CANCELED')),
  due_at bigint,
  lease_until bigint NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  finished_at bigint,
  UNIQUE (merchant_id, request_id)
);
CREATE INDEX pay_payout_batches_due ON pay_payout_batches (due_at) WHERE due_at IS NOT NULL;

-- One row per transfer detail, in request order (`seq`). `funded`: reserved at accept (hold `hold_id`, merchant source
-- wallet → payout_escrow, amount + fee). `fee` is the fee reserved, `fee_charged` what a SUCCESS charged.
CREATE TABLE pay_payout_details (
  order_id bigint PRIMARY KEY,
  batch_id bigint NOT NULL REFERENCES pay_payout_batches (batch_id),
  seq integer NOT NULL,
  merchant_id bigint NOT NULL,
  merchant_send_id text NOT NULL,
  receive_type text NOT NULL,
  receiver text NOT NULL,
  transfer_method text NOT NULL,
  amount numeric(38, 8) NOT NULL,
  fee numeric(38, 8) NOT NULL,
  fee_charged numeric(38, 8) NOT NULL DEFAULT 0,
  remark text,
  registration_email text,
  registration_mobile_number text,
  registration_mobile_code text,
  funded boolean NOT NULL,
  hold_id text,
  status text NOT NULL CHECK (status IN ('PROCESSING', 'SUCCESS', 'FAIL', 'AWAITING_RECEIPT', 'REFUNDED')),
  fail_reason text,
  payee_id bigint,
  claim_token text UNIQUE,
  claim_deadline bigint,
  created_at bigint NOT NULL,
  finished_at bigint,
  UNIQUE (batch_id, seq)
);
CREATE INDEX pay_payout_details_awaiting ON pay_payout_details (claim_deadline) WHERE status = 'AWAITING_RECEIPT';
CREATE INDEX pay_payout_details_merchant_created ON pay_payout_details (merchant_id, created_at);

-- The receiver check's guard (§10.4): `false` answers per merchant within the last 10 minutes (business clock), and
-- the merchant's block once there were more than 20.
CREATE TABLE pay_payout_receiver_fails (
  id bigserial PRIMARY KEY,
  merchant_id bigint NOT NULL,
  at bigint NOT NULL
);
CREATE INDEX pay_payout_receiver_fails_merchant ON pay_payout_receiver_fails (merchant_id, at);
CREATE TABLE pay_payout_receiver_blocks (
  merchant_id bigint PRIMARY KEY,
  blocked_until bigint NOT NULL
);
