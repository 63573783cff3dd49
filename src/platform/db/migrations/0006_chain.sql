-- chain/: keys, deployed sandbox tokens, nonces, withdrawals and their transactions, deposit addresses and deposits.

CREATE TABLE chain_keys (
  name text PRIMARY KEY,                        -- hot_wallet (private key), deposit_seed (HD master seed)
  sealed text NOT NULL,                         -- SecretBox (AES-256-GCM) of the secret
  created_at bigint NOT NULL
);

CREATE TABLE chain_contracts (
  network text NOT NULL,
  asset text NOT NULL,
  address text NOT NULL,
  decimals integer NOT NULL,
  chain_id bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (network, asset)
);

-- Next nonce per sending address: allocated by the same transaction that records the signed transaction.
CREATE TABLE chain_nonces (
  network text NOT NULL,
  address text NOT NULL,
  next_nonce bigint NOT NULL CHECK (next_nonce >= 0),
  PRIMARY KEY (network, address)
);

CREATE TABLE chain_withdrawals (
  id text PRIMARY KEY,
  ref text NOT NULL UNIQUE,                     -- caller's idempotency key (e.g. a Connect order id)
  owner_type text NOT NULL,
  owner_id text NOT NULL,
  asset text NOT NULL,
  network text NOT NULL,
  address text NOT NULL,
  memo text NOT NULL DEFAULT '',
  amount numeric(38, 18) NOT NULL CHECK (amount > 0),
  status text NOT NULL CHECK (status IN ('requested', 'signed', 'broadcast', 'confirming', 'completed', 'failed', 'cancelled')),
  hold_id text NOT NULL,
  simulated boolean NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  tx_hash text,
  block_number bigint,
  confirmations integer NOT NULL DEFAULT 0,
  failure_reason text,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  completed_at bigint
);
CREATE INDEX chain_withdrawals_active ON chain_withdrawals (status, updated_at) WHERE status IN ('requested', 'signed', 'broadcast', 'confirming');
CREATE INDEX chain_withdrawals_owner ON chain_withdrawals (owner_type, owner_id, created_at);

-- Every signed transaction, recorded before broadcast. A (network, from, nonce) is used once: no reuse.
CREATE TABLE chain_txs (
  network text NOT NULL,
  hash text NOT NULL,
  withdrawal_id text NOT NULL REFERENCES chain_withdrawals (id),
  attempt integer NOT NULL,
  from_address text NOT NULL,
  nonce bigint,
  raw text NOT NULL,
  status text NOT NULL CHECK (status IN ('signed', 'broadcast', 'mined', 'reverted', 'dropped')),
  broadcast_at bigint,
  created_at bigint NOT NULL,
  PRIMARY KEY (network, hash),
  UNIQUE (withdrawal_id, attempt)
);
CREATE UNIQUE INDEX chain_txs_nonce ON chain_txs (network, from_address, nonce) WHERE nonce IS NOT NULL;

CREATE TABLE chain_counters (
  name text PRIMARY KEY,
  value bigint NOT NULL
);

CREATE TABLE chain_deposit_addresses (
  owner_type text NOT NULL,
  owner_id text NOT NULL,
  family text NOT NULL,                         -- evm: one address serves every EVM network
  derivation_index bigint NOT NULL,
  address text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (owner_type, owner_id, family),
  UNIQUE (family, derivation_index),
  UNIQUE (family, address)
);

CREATE TABLE chain_deposits (
  id text PRIMARY KEY,
  network text NOT NULL,
  tx_hash text NOT NULL,
  log_index integer NOT NULL,                   -- -1 for a native-coin transfer
  asset text NOT NULL,
  address text NOT NULL,
  owner_type text NOT NULL,
  owner_id text NOT NULL,
  amount numeric(38, 18) NOT NULL CHECK (amount > 0),
  block_number bigint NOT NULL,
  block_hash text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'credited', 'orphaned')),
  created_at bigint NOT NULL,
  credited_at bigint,
  UNIQUE (network, tx_hash, log_index)
);
CREATE INDEX chain_deposits_pending ON chain_deposits (network, status) WHERE status = 'pending';

CREATE TABLE chain_cursors (
  network text PRIMARY KEY,
  block bigint NOT NULL
);
