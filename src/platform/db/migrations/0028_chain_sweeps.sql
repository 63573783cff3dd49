-- Sweeps (src/chain/sweeps.ts): credited deposits move from their deposit address to the hot wallet, so customer
-- money paid in funds the withdrawals and settlements paid out. A deposit is claimed by one live sweep at a time
-- (chain_deposits.sweep_id); a failed sweep releases its deposits for the next one.
ALTER TABLE chain_deposits ADD COLUMN sweep_id text;
CREATE INDEX chain_deposits_unswept ON chain_deposits (network, address, asset) WHERE status = 'credited' AND sweep_id IS NULL;

CREATE TABLE chain_sweeps (
  id text PRIMARY KEY,
  network text NOT NULL,
  asset text NOT NULL,
  address text NOT NULL,                        -- the deposit address swept (the sender)
  derivation_index bigint NOT NULL,             -- its key: m/44'/60'/1'/0/index of the deposit seed
  amount numeric(38, 18) NOT NULL CHECK (amount > 0),  -- the credited deposits claimed
  status text NOT NULL CHECK (status IN ('requested', 'funding', 'signed', 'broadcast', 'completed', 'failed')),
  gas_rounds integer NOT NULL DEFAULT 0,        -- gas top-ups asked of the hot wallet (withdrawal ref sweep-gas:id:n)
  attempts integer NOT NULL DEFAULT 0,
  nonce bigint,
  tx_hash text,
  raw text,                                     -- signed bytes, stored before broadcast
  sent_value numeric(38, 18),                   -- what the transaction moves (native sweeps keep back the gas)
  broadcast_at bigint,
  confirmations integer NOT NULL DEFAULT 0,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  completed_at bigint
);
CREATE INDEX chain_sweeps_active ON chain_sweeps (status, updated_at) WHERE status IN ('requested', 'funding', 'signed', 'broadcast');
-- One live sweep per address: its transactions share the address's nonces, and a token sweep's gas comes from it.
CREATE UNIQUE INDEX chain_sweeps_one_live ON chain_sweeps (network, address) WHERE status IN ('requested', 'funding', 'signed', 'broadcast');
