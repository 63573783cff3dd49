-- The extended Pay surface (binance-pay-extended.md §9): per-merchant feature flags and payout fees set by the
-- operator, and per-key permissions. `features` holds the operator's overrides only; a flag absent from it takes the
-- mode's default (src/pay/features.ts). A key's `permissions` NULL means the mode's default for keys.
ALTER TABLE merchants ADD COLUMN features jsonb NOT NULL DEFAULT '{}';
ALTER TABLE merchants ADD COLUMN payout_fee jsonb NOT NULL DEFAULT '{}';
ALTER TABLE merchant_api_keys ADD COLUMN permissions jsonb;
