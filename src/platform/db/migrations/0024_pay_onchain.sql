-- Paying a hosted checkout from any wallet (issue #16), owned by src/pay/onchain.
--
-- One on-chain intent per order: the asset and network the payer chose, the order's own deposit address (chain
-- deposit owner `pay_order`, id = prepay_id) and the amount due in that asset, quoted once and locked until the order
-- expires. Transfers to the address are credited by the chain's deposit watcher into the order's escrow account
-- (ledger owner `pay_order`), then announced; each one is applied here once (pay_onchain_receipts).
--
--   AWAITING ──received ≥ amount, order still open──▶ PAID      (surplus to the payer)
--      └──────order expired or closed─────────────────▶ RETURNED (received to the payer)
--
-- "To the payer": the payer's balance when they were logged in when choosing, else it stays in the escrow account as a
-- refundable credit the operator sees and can send back to an address. Only src/pay/onchain/service.ts `transition`
-- writes `status`.
CREATE TABLE pay_onchain_intents (
  prepay_id bigint PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('AWAITING', 'PAID', 'RETURNED')),
  asset text NOT NULL,
  network text NOT NULL,
  address text NOT NULL,
  amount numeric(38, 18) NOT NULL CHECK (amount > 0),   -- due in `asset`, rounded up to the token's decimals
  price text NOT NULL,                                   -- `asset` in the order's currency, as quoted ('1' if same)
  payer_id bigint,
  received numeric(38, 18) NOT NULL DEFAULT 0,           -- counted toward the order while AWAITING
  consumed numeric(38, 18),                              -- what the payment took from the escrow (PAID)
  released numeric(38, 18),                              -- what went back to the payer when it left AWAITING
  expire_time bigint NOT NULL,                           -- the order's, copied so the worker needs no join
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX pay_onchain_intents_due ON pay_onchain_intents (status, expire_time);

-- Each credited deposit on an order's address, applied once: `order` counted toward the order, `credit` given back
-- (late, after the intent left AWAITING, or in another asset or network than the one chosen).
CREATE TABLE pay_onchain_receipts (
  deposit_id text PRIMARY KEY,
  prepay_id bigint NOT NULL,
  network text NOT NULL,
  tx_hash text NOT NULL,
  asset text NOT NULL,
  amount numeric(38, 18) NOT NULL CHECK (amount > 0),
  applied text NOT NULL CHECK (applied IN ('order', 'credit')),
  created_at bigint NOT NULL
);
CREATE INDEX pay_onchain_receipts_order ON pay_onchain_receipts (prepay_id, created_at);
