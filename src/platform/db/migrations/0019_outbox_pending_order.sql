-- The outbox claim walks due rows in id order and stops at its limit (src/platform/outbox/service.ts): an index of
-- the pending rows by id lets it do so without reading the DONE ones, which stay until retention prunes them.
CREATE INDEX outbox_pending_id ON outbox (id) WHERE status = 'PENDING';
