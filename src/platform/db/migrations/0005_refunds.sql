-- Binance Pay refunds (binance-pay.md §4.5, §4.6).

-- refundId is a JSON number on the wire, so it must stay below 2^53; starting at 2^52 + 1 (the spec sample)
-- leaves 2^52 ids before that limit.
CREATE SEQUENCE pay_refund_id_seq START 4503599627370497 MAXVALUE 9007199254740991;

CREATE TABLE pay_refunds (
  refund_id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  refund_request_id text NOT NULL,              -- the merchant's idempotency key
  prepay_id bigint NOT NULL REFERENCES pay_orders (prepay_id),
  attempt_no integer NOT NULL CHECK (attempt_no BETWEEN 1 AND 10),
  status text NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'REJECTED')),
  currency text NOT NULL,
  requested_amount numeric(38, 8) NOT NULL,     -- as sent: a replay is compared against this, not the refunded amount
  refund_amount numeric(38, 8) NOT NULL CHECK (refund_amount > 0),
  order_amount numeric(38, 8) NOT NULL,
  refunded_amount numeric(38, 8) NOT NULL,      -- cumulative at acceptance, this refund included (the stored result)
  remaining_attempts integer NOT NULL,
  payer_open_id text,
  refund_reason text,
  webhook_url text,
  hold_id text NOT NULL,
  created_at bigint NOT NULL,
  completed_at bigint,
  UNIQUE (merchant_id, refund_request_id),
  -- With the CHECK above, the database itself refuses an eleventh attempt on one order.
  UNIQUE (prepay_id, attempt_no)
);
CREATE INDEX pay_refunds_pending ON pay_refunds (created_at) WHERE status = 'PENDING';
