-- Outbox batching (issue 20, src/platform/outbox/service.ts and delivery.ts).
-- The row carries its round (0, +1 per manual redelivery of a webhook) and how many attempts its handler has logged in
-- that round, so the webhook engine gets both with the claim instead of two queries per delivery; the engine counts
-- round_attempts up in the statement that logs the attempt. webhook_deliveries keeps the redelivery time.
ALTER TABLE outbox ADD COLUMN round integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN round_attempts integer NOT NULL DEFAULT 0;
UPDATE outbox o SET round = d.round FROM webhook_deliveries d WHERE d.id = o.id AND d.round <> 0;
UPDATE outbox o SET round_attempts = (SELECT count(*) FROM webhook_delivery_attempts a WHERE a.delivery_id = o.id AND a.round = o.round) WHERE o.topic = 'webhook' AND EXISTS (SELECT 1 FROM webhook_delivery_attempts a WHERE a.delivery_id = o.id);
-- The claim walks due rows earliest due first, one index step at a time (next_attempt_at, id), and stops at its limit;
-- this index replaces outbox_due (status, next_attempt_at), which served the same rows without the id to step by.
CREATE INDEX outbox_due_walk ON outbox (next_attempt_at, id) WHERE status = 'PENDING';
DROP INDEX outbox_due;
