-- Issue 13: a TSP could leave any number of PENDING requests in every merchant's dashboard.
-- Merchants a merchant blocked from the dashboard: the TSP's creates for it answer 406210, like an unknown merchant.
CREATE TABLE tsp_blocks (
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  tsp_merchant_id bigint NOT NULL REFERENCES merchants (id),
  created_at bigint NOT NULL,
  PRIMARY KEY (merchant_id, tsp_merchant_id)
);

-- At most one PENDING request per (TSP, merchant): older duplicates left by earlier versions are rejected first
-- (no webhook: they predate the rule; the newest stays reviewable).
UPDATE tsp_authorizations a SET status = 'REJECTED', decided_at = a.updated_at
  WHERE a.status = 'PENDING' AND EXISTS (
    SELECT 1 FROM tsp_authorizations b WHERE b.status = 'PENDING' AND b.tsp_merchant_id = a.tsp_merchant_id AND b.merchant_id = a.merchant_id AND b.id > a.id);
CREATE UNIQUE INDEX tsp_authorizations_one_pending ON tsp_authorizations (tsp_merchant_id, merchant_id) WHERE status = 'PENDING';

-- The per-TSP rate limit counts the TSP's requests of the last hour.
CREATE INDEX tsp_authorizations_tsp_created ON tsp_authorizations (tsp_merchant_id, created_at);
