-- Direct debit / pre-authorization (binance-pay-extended.md §14).

-- §14.1: one row per contract request, keyed by its preContractId; `contract_id` is issued on signing (16 digits,
-- below 2^53 so it stays a JSON number, §9.3). `fingerprint` is the create request's normalized parameters (§9.4:
-- merchantContractCode is the idempotency key). A contract signed while paying (§14.9) carries the order's prepay_id.
CREATE SEQUENCE pay_dd_contract_id_seq START 4503599627380001;
CREATE TABLE pay_dd_contracts (
  pre_contract_id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL,
  creator_merchant_id bigint NOT NULL,
  merchant_contract_code text NOT NULL,
  fingerprint text NOT NULL,
  contract_id bigint UNIQUE,
  status text NOT NULL CHECK (status IN ('INITIAL', 'CONTRACT_SIGNED', 'CONTRACT_TERMINATED', 'CONTRACT_EXPIRED')),
  sub_merchant_id bigint,
  service_name text NOT NULL,
  scenario_code text NOT NULL,
  single_upper_limit numeric(38, 8) NOT NULL,
  currency text NOT NULL,
  periodic boolean NOT NULL,
  cycle_debit_fixed boolean,
  cycle_type text CHECK (cycle_type IN ('MONTH', 'DAY')),
  cycle_value integer,
  first_deduct_time bigint,
  merchant_account_no text,
  request_expire_time bigint NOT NULL,
  contract_end_time bigint NOT NULL,
  webhook_url text,
  return_url text,
  cancel_url text,
  token text NOT NULL UNIQUE,
  prepay_id bigint,
  payer_id bigint,
  open_user_id text,
  signed_time bigint,
  termination_way integer CHECK (termination_way IN (0, 1, 2, 3)),
  termination_time bigint,
  termination_notes text,
  created_at bigint NOT NULL,
  UNIQUE (merchant_id, merchant_contract_code)
);
CREATE INDEX pay_dd_contracts_unsigned_due ON pay_dd_contracts (request_expire_time)
  WHERE status = 'INITIAL' AND prepay_id IS NULL;
CREATE INDEX pay_dd_contracts_signed_due ON pay_dd_contracts (contract_end_time) WHERE status = 'CONTRACT_SIGNED';
CREATE INDEX pay_dd_contracts_order ON pay_dd_contracts (prepay_id) WHERE prepay_id IS NOT NULL;
CREATE INDEX pay_dd_contracts_payer ON pay_dd_contracts (payer_id) WHERE payer_id IS NOT NULL;

-- §14.6: pre-debit notices of periodic contracts. `used_by` is the debit (its orderId) that consumed the notice; a
-- failed debit gives it back.
CREATE TABLE pay_dd_notices (
  order_id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL,
  merchant_request_id text NOT NULL,
  fingerprint text NOT NULL,
  contract_id bigint NOT NULL,
  estimated_amount numeric(38, 8) NOT NULL,
  currency text NOT NULL,
  transaction_time bigint NOT NULL,
  used_by bigint,
  UNIQUE (merchant_id, merchant_request_id)
);

-- §14.7: debits. Steps: PROCESSING (order created, the worker pays it) → SUCCESS | FAILED; the order hooks move the
-- step in the transaction that pays or closes the order. `lease_until` (wall clock, ms) keeps two workers off one
-- debit. A periodic contract's debit holds its period window: at most one not-failed debit per window.
CREATE TABLE pay_dd_debits (
  order_id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL,
  creator_merchant_id bigint NOT NULL,
  merchant_request_id text NOT NULL,
  fingerprint text NOT NULL,
  contract_id bigint NOT NULL,
  payer_id bigint NOT NULL,
  pre_biz_id bigint,
  prepay_id bigint UNIQUE,
  amount numeric(38, 8) NOT NULL,
  currency text NOT NULL,
  period_index integer,
  step text NOT NULL CHECK (step IN ('ORDERING', 'PROCESSING', 'SUCCESS', 'FAILED')),
  applied_time bigint NOT NULL,
  -- The order the debit creates (its NewOrder), kept so a worker can create it again after a crash.
  order_input jsonb NOT NULL,
  lease_until bigint NOT NULL DEFAULT 0,
  UNIQUE (merchant_id, merchant_request_id)
);
CREATE INDEX pay_dd_debits_due ON pay_dd_debits (lease_until) WHERE step IN ('ORDERING', 'PROCESSING');
CREATE INDEX pay_dd_debits_contract ON pay_dd_debits (contract_id);
CREATE UNIQUE INDEX pay_dd_debits_one_per_period ON pay_dd_debits (contract_id, period_index)
  WHERE period_index IS NOT NULL AND step <> 'FAILED';
