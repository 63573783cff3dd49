-- Binance Connect, second generation (shared/spec/binance-connect-v2.md): one order table for both generations (§12),
-- the partner's gen-2 credentials (§13) and its customization switches (§7).

-- client_id: 32 lowercase hex, the X-Tesla-ClientId and the webhook partner code. Existing partners get one now; their
-- sign access token is issued (shown once) from the console or the portal.
ALTER TABLE connect_partners ADD COLUMN client_id text;
UPDATE connect_partners SET client_id = md5(code || ':' || random()::text || ':' || clock_timestamp()::text);
ALTER TABLE connect_partners ALTER COLUMN client_id SET NOT NULL;
CREATE UNIQUE INDEX connect_partners_client_id ON connect_partners (client_id);
ALTER TABLE connect_partners ADD COLUMN sign_token_hash text;          -- sha256 of X-Tesla-SignAccessToken
ALTER TABLE connect_partners ADD COLUMN customization_flags jsonb NOT NULL DEFAULT '[]';  -- §7 keys enabled

-- api_generation: the API that created the order and the only one that sees it.
ALTER TABLE connect_orders ADD COLUMN api_generation smallint NOT NULL DEFAULT 1;
-- Gen-2 request fields that only the gen-2 projection reads (amountType, requestedAmount, return URLs, customization,
-- userData, the fee in USD at pre-order); null for gen-1 orders.
ALTER TABLE connect_orders ADD COLUMN gen2 jsonb;
ALTER TABLE connect_orders ADD COLUMN gen2_status smallint;            -- the published integer status (§5.1)
ALTER TABLE connect_orders ADD COLUMN link_token_sealed text;          -- the link token, sealed: orderDetailLink
ALTER TABLE connect_orders ADD COLUMN open_user_id text;               -- §8 openUserId, set when the user is known
ALTER TABLE connect_orders ADD COLUMN completed_at bigint;             -- when a final status was reached
ALTER TABLE connect_partners ADD COLUMN deep_link_schemes jsonb NOT NULL DEFAULT '[]';  -- gen-2 redirect deep links
