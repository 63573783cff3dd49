-- Webhook delivery log (src/platform/outbox/delivery.ts). The outbox row of topic 'webhook' is the delivery
-- itself (payload, status, schedule); these tables add what the outbox does not keep: every attempt, and
-- the redelivery round so a manual redelivery gets a fresh retry budget.

CREATE TABLE webhook_deliveries (
  id bigint PRIMARY KEY,                        -- = outbox.id
  round integer NOT NULL DEFAULT 0,             -- 0 for the original delivery, +1 per manual redelivery
  redelivered_at bigint                         -- business clock, ms
);

CREATE TABLE webhook_delivery_attempts (
  id bigint PRIMARY KEY,
  delivery_id bigint NOT NULL,                  -- = outbox.id
  round integer NOT NULL,
  attempt_no integer NOT NULL,                  -- 1-based within the round
  attempted_at bigint NOT NULL,                 -- business clock, ms (the clock the retry schedule runs on)
  url text NOT NULL,
  http_status integer,                          -- null when no response (timeout, connection error, refused)
  latency_ms integer NOT NULL,
  response_excerpt text,                        -- first 1 KB of the response body
  error text,
  acked boolean NOT NULL
);
CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, id);
