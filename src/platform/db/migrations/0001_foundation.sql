-- Platform machinery: settings, ledger, outbox, signing keys.

CREATE TABLE platform_settings (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE ledger_accounts (
  id text PRIMARY KEY,                          -- owner_type:owner_id:asset, e.g. merchant:1000135331248:USDT
  owner_type text NOT NULL,
  owner_id text NOT NULL,
  asset text NOT NULL,
  may_go_negative boolean NOT NULL,             -- only platform-side system accounts (mint, inventory)
  posted numeric(38, 18) NOT NULL DEFAULT 0,    -- credits minus debits of posted transfers
  held numeric(38, 18) NOT NULL DEFAULT 0,      -- debits of pending transfers (holds)
  created_at bigint NOT NULL,
  CONSTRAINT customer_funds_non_negative CHECK (may_go_negative OR posted - held >= 0),
  CONSTRAINT held_non_negative CHECK (held >= 0)
);

CREATE TABLE ledger_transfers (
  id text PRIMARY KEY,                          -- caller-chosen idempotency id
  debit_account text NOT NULL REFERENCES ledger_accounts (id),
  credit_account text NOT NULL REFERENCES ledger_accounts (id),
  asset text NOT NULL,
  amount numeric(38, 18) NOT NULL CHECK (amount > 0),
  status text NOT NULL CHECK (status IN ('POSTED', 'PENDING', 'VOIDED')),
  kind text NOT NULL,
  ref text,
  created_at bigint NOT NULL,
  resolved_at bigint,
  CHECK (debit_account <> credit_account)
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account, created_at);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account, created_at);
CREATE INDEX ledger_transfers_ref ON ledger_transfers (ref);

CREATE TABLE outbox (
  id bigint PRIMARY KEY,
  topic text NOT NULL,
  ordering_key text,                            -- rows sharing a key are handled strictly in id order
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DONE', 'FAILED')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint NOT NULL,              -- business clock, ms
  leased_until bigint NOT NULL DEFAULT 0,       -- wall clock, ms: a crashed worker's claim lapses
  last_error text,
  created_at bigint NOT NULL,
  completed_at bigint
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX outbox_ordering ON outbox (ordering_key, id) WHERE status = 'PENDING';

CREATE TABLE signing_keys (
  id bigint PRIMARY KEY,
  purpose text NOT NULL,                        -- pay-webhook, connect-webhook
  serial text NOT NULL,
  public_pem text NOT NULL,
  private_pem_sealed text NOT NULL,
  active boolean NOT NULL,
  created_at bigint NOT NULL
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (purpose) WHERE active;
