-- The destination host (host:port of payload.url) of a webhook row as a column, written at enqueue: the worker's
-- claim skips the rows of hosts whose slots are all taken without reading (and de-TOASTing) each row's payload.
ALTER TABLE outbox ADD COLUMN dest_host text;
UPDATE outbox SET dest_host = lower(regexp_replace(split_part(payload->>'url', '/', 3), '^.*@', '')) WHERE status = 'PENDING' AND payload ? 'url';
