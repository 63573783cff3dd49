-- Growth (issue 20): plans that stay flat as the ledger grows, and checkpoints for an incremental ledger audit.

-- A statement (daily report) reads one account's posted transfers by posting time: [from, to) and, for the opening
-- balance, everything posted since `from` (opening = the account's posted balance minus what was posted since).
CREATE INDEX ledger_transfers_credit_posted ON ledger_transfers (credit_account, resolved_at) WHERE status = 'POSTED';
CREATE INDEX ledger_transfers_debit_posted ON ledger_transfers (debit_account, resolved_at) WHERE status = 'POSTED';
-- The incremental audit reads what was resolved since its checkpoint, and what is still pending.
CREATE INDEX ledger_transfers_resolved ON ledger_transfers (resolved_at);
CREATE INDEX ledger_transfers_pending ON ledger_transfers (debit_account) WHERE status = 'PENDING';
-- An owner's balances (reports, dashboards) without reading every account.
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_type, owner_id);

-- A checkpoint of a clean audit: every account's sum of POSTED transfers resolved before `upto` (ledger clock ms).
-- A transfer is final once resolved (POSTED or VOIDED), so the next audit adds only what was resolved since `upto`.
CREATE TABLE ledger_audit_checkpoints (
  id bigint PRIMARY KEY,
  upto bigint NOT NULL,
  transfers bigint NOT NULL,                    -- transfers resolved before upto
  created_at bigint NOT NULL
);
CREATE TABLE ledger_audit_checkpoint_sums (
  checkpoint_id bigint NOT NULL REFERENCES ledger_audit_checkpoints (id) ON DELETE CASCADE,
  account_id text NOT NULL,
  posted numeric(38, 18) NOT NULL,
  PRIMARY KEY (checkpoint_id, account_id)
);
