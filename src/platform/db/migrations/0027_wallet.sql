-- The person's wallet (src/wallet): a withdrawal to an external address, from the form to the chain's withdrawal.
-- `step` is moved only by src/wallet/withdrawals.ts (one conditional update per transition). The e-mailed code is
-- kept as a scrypt hash. `fee` is the network fee the payer pays beside `amount`; both are held by the chain's
-- withdrawal (`chain_withdrawal_id`, ref `wallet:<id>`) in the transaction that creates it.
CREATE TABLE wallet_withdrawals (
  id text PRIMARY KEY,
  payer_id text NOT NULL,
  asset text NOT NULL,
  network text NOT NULL,
  address text NOT NULL,
  memo text NOT NULL DEFAULT '',
  amount numeric(38, 18) NOT NULL,
  fee numeric(38, 18) NOT NULL,
  step text NOT NULL,
  code_hash text NOT NULL,
  code_expires_at bigint NOT NULL,
  code_attempts integer NOT NULL DEFAULT 0,
  chain_withdrawal_id text,
  failure text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  lease_until bigint                            -- wall-clock ms: the one runner asking the chain at `confirmed`
);
CREATE INDEX wallet_withdrawals_payer ON wallet_withdrawals (payer_id, created_at DESC);
CREATE INDEX wallet_withdrawals_open ON wallet_withdrawals (step) WHERE step IN ('code_sent', 'confirmed', 'requested');
