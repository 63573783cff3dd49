-- Connect buy flow after confirm as a step machine (src/connect/buyflow/purchase.ts): the internal step of each
-- order, when the worker should run it next, a lease so one runner at a time drives an order, the 3-D Secure
-- challenge's expiry, and the history of every step change. Card charges become authorize → capture | void →
-- refund; saved cards de-duplicate by the acquirer's fingerprint and remember their last failure.
ALTER TABLE buyflow_orders ADD COLUMN step text NOT NULL DEFAULT 'OPEN';
ALTER TABLE buyflow_orders ADD COLUMN step_due_at bigint;                -- platform clock; null: waiting for the person or an event
ALTER TABLE buyflow_orders ADD COLUMN lease_until bigint NOT NULL DEFAULT 0; -- wall clock ms; a runner holds the order until then
ALTER TABLE buyflow_orders ADD COLUMN lease_owner text;                  -- which runner: only it releases the lease
ALTER TABLE buyflow_orders ADD COLUMN card_token text;                   -- the acquirer token of the card the attempt was confirmed with (its intent)
ALTER TABLE buyflow_orders ADD COLUMN challenge_expires_at bigint;
ALTER TABLE buyflow_orders ADD COLUMN wake_seq integer NOT NULL DEFAULT 0;         -- bumped by an outside event (a settled withdrawal, a 3-D Secure answer) so a runner's "wait" cannot swallow it
ALTER TABLE buyflow_orders ADD COLUMN failure_code text;                 -- the code a compensating step (void, refund) ends the attempt with
CREATE INDEX buyflow_orders_due ON buyflow_orders (step_due_at) WHERE step_due_at IS NOT NULL;

-- Orders confirmed before this migration: their step from the published status. PAYMENT_PROCESSING orders are left
-- for the operator (no due time): the old flow charged inline, so there is no recorded intent to resume.
UPDATE buyflow_orders SET step = CASE c.sub_status
    WHEN 'PAYMENT_PROCESSING' THEN 'AUTHORIZING' WHEN 'PURCHASE_PROCESSING' THEN 'PURCHASING' WHEN 'WITHDRAW_PROCESSING' THEN 'WITHDRAWING'
    WHEN 'WITHDRAW_FAILED' THEN 'WITHDRAW_FAILED' WHEN 'COMPLETED' THEN 'COMPLETED' WHEN 'FAILED' THEN 'FAILED' ELSE 'OPEN' END,
  step_due_at = CASE WHEN c.sub_status IN ('PURCHASE_PROCESSING', 'WITHDRAW_PROCESSING') THEN 0 ELSE NULL END
  FROM connect_orders c WHERE c.order_id = buyflow_orders.order_id;

CREATE TABLE buyflow_order_steps (
  id bigint PRIMARY KEY,
  order_id text NOT NULL,
  from_step text NOT NULL,
  to_step text NOT NULL,
  sub_status text NOT NULL,                     -- the published status after the change
  error_code text,
  at bigint NOT NULL
);
CREATE INDEX buyflow_order_steps_order ON buyflow_order_steps (order_id, id);

ALTER TABLE card_tokens ADD COLUMN fingerprint text;
UPDATE card_charges SET status = 'CAPTURED' WHERE status = 'APPROVED';
ALTER TABLE buyflow_cards ADD COLUMN fingerprint text;
ALTER TABLE buyflow_cards ADD COLUMN last_failure text;                  -- errorCode of the last payment that failed on this card
CREATE UNIQUE INDEX buyflow_cards_fingerprint ON buyflow_cards (user_id, fingerprint) WHERE fingerprint IS NOT NULL;
