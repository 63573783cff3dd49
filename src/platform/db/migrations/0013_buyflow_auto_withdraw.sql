-- Connect buy flow: automatic withdrawal attempts (binance-connect.md §6.4: 3 within 30 min, then WITHDRAW_FAILED)
-- and the proof-of-address review that raises a user to VERIFIED_PLUS.
ALTER TABLE buyflow_orders ADD COLUMN withdraw_auto_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE buyflow_orders ADD COLUMN withdraw_first_at bigint;
ALTER TABLE buyflow_orders ADD COLUMN withdraw_next_at bigint;           -- the next automatic attempt is due (platform clock); null: none planned
CREATE INDEX buyflow_orders_withdraw_next ON buyflow_orders (withdraw_next_at);
ALTER TABLE buyflow_users ADD COLUMN address_review_since bigint;        -- a proof of address waits for the operator's decision
