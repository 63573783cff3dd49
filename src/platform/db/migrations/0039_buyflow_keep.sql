-- Connect gen-2 (binance-connect-v2.md §5.3, 2 → 96): the user chose at confirm to keep the bought crypto in their
-- Rampart account instead of withdrawing it.
ALTER TABLE buyflow_orders ADD COLUMN keep_in_account boolean NOT NULL DEFAULT false;
