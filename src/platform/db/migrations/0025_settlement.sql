-- Issue #16: merchant settlement and hot wallet operations.

-- A withdrawal whose hot wallet is short waits in 'requested' (retried each worker tick) instead of failing; the
-- reason is shown to the operator and the owner. The network fee the owner pays (held as `wdfee:<id>`, posted with
-- the amount on completion, voided on cancel).
ALTER TABLE chain_withdrawals ADD COLUMN waiting_reason text;
ALTER TABLE chain_withdrawals ADD COLUMN fee numeric(38, 18) NOT NULL DEFAULT 0;
-- The outbox topic the requesting domain listens on for the outcome (default chain.withdrawal.settled, the buy flow's).
ALTER TABLE chain_withdrawals ADD COLUMN notify_topic text;

-- A merchant's whitelisted withdrawal addresses. A dashboard entry waits for the e-mailed code (only its hash is
-- kept), then for its cooling-off period: usable once active_at has passed. Removal is immediate.
CREATE TABLE pay_settlement_addresses (
  id text PRIMARY KEY,
  merchant_id text NOT NULL,
  asset text NOT NULL,
  network text NOT NULL,
  address text NOT NULL,
  memo text NOT NULL DEFAULT '',
  label text NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING_CODE', 'CONFIRMED', 'REMOVED', 'REJECTED')),
  code_hash text,
  code_attempts integer NOT NULL DEFAULT 0,
  code_expires_at bigint,
  active_at bigint,
  added_by text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX pay_settlement_addresses_live ON pay_settlement_addresses (merchant_id, asset, network, address, memo)
  WHERE status IN ('PENDING_CODE', 'CONFIRMED');
CREATE INDEX pay_settlement_addresses_merchant ON pay_settlement_addresses (merchant_id, created_at);

-- One settlement (a withdrawal of the merchant's balance to a whitelisted address): a step machine whose money is the
-- chain withdrawal's hold (ref settle:<id>).
CREATE TABLE pay_settlements (
  id text PRIMARY KEY,
  merchant_id text NOT NULL,
  request_key text NOT NULL,
  address_id text NOT NULL REFERENCES pay_settlement_addresses (id),
  asset text NOT NULL,
  network text NOT NULL,
  amount numeric(38, 18) NOT NULL CHECK (amount > 0),
  fee numeric(38, 18) NOT NULL,
  source text NOT NULL CHECK (source IN ('DASHBOARD', 'ADMIN', 'AUTO_DAILY', 'AUTO_THRESHOLD')),
  status text NOT NULL CHECK (status IN ('REQUESTED', 'WITHDRAWING', 'COMPLETED', 'FAILED', 'REJECTED', 'CANCELLED')),
  withdrawal_id text,
  failure text,
  lease_until bigint,                           -- wall clock: who is making the chain request now

  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  UNIQUE (merchant_id, request_key)
);
CREATE INDEX pay_settlements_open ON pay_settlements (updated_at) WHERE status IN ('REQUESTED', 'WITHDRAWING');
CREATE INDEX pay_settlements_merchant ON pay_settlements (merchant_id, created_at);

-- Automatic settlement per merchant, asset and network: daily, or when the available balance exceeds a threshold.
-- `runs` is claimed by a conditional update in the transaction that records the settlement, so a run happens once.
CREATE TABLE pay_settlement_auto (
  merchant_id text NOT NULL,
  asset text NOT NULL,
  network text NOT NULL,
  mode text NOT NULL CHECK (mode IN ('DAILY', 'THRESHOLD')),
  threshold numeric(38, 18),
  address_id text NOT NULL REFERENCES pay_settlement_addresses (id),
  enabled boolean NOT NULL,
  runs integer NOT NULL DEFAULT 0,
  next_due_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (merchant_id, asset, network)
);
