-- Connect buy flow identities (issue #12). A passed KYC record is an identity: a broker-shared record (one per
-- bizEntityKey + entityCustomerId) or the buy flow's own record of an account. An identity verifies at most one
-- buy-flow account, the first that binds it (the primary key decides between two concurrent binds); another account
-- presenting the same shared record must do its own KYC, and the attempt is kept for the operator
-- (GET /admin/v1/connect/identity-conflicts). buyflow_users.kyc_record_id is the account's identity key; the daily
-- limit sums the orders of every account with that key and serialises on the identity's row here.
-- Written to run again without harm (IF NOT EXISTS, ON CONFLICT): test/buyflow-identity.test.ts re-runs it over
-- accounts verified the old way.
ALTER TABLE buyflow_users ADD COLUMN IF NOT EXISTS nationality text;     -- declared at KYC submit (ISO alpha-2)
ALTER TABLE buyflow_users ADD COLUMN IF NOT EXISTS id_country text;      -- country of issue of the ID (ISO alpha-2)
CREATE INDEX IF NOT EXISTS buyflow_users_kyc_record ON buyflow_users (kyc_record_id);

CREATE TABLE IF NOT EXISTS buyflow_identities (
  kyc_record_id bigint PRIMARY KEY REFERENCES kyc_records (id),   -- the identity key
  user_id bigint NOT NULL UNIQUE REFERENCES buyflow_users (id),    -- the one account it verifies
  source text NOT NULL CHECK (source IN ('shared', 'buyflow')),
  created_at bigint NOT NULL
);

-- Accounts refused a shared identity already bound to another account (one row per record and account).
CREATE TABLE IF NOT EXISTS buyflow_identity_conflicts (
  kyc_record_id bigint NOT NULL REFERENCES kyc_records (id),
  user_id bigint NOT NULL REFERENCES buyflow_users (id),
  partner_code text,                            -- of the latest order that presented it (null: found by this migration)
  merchant_user_id text,
  detected_by text NOT NULL CHECK (detected_by IN ('buyflow', 'migration')),
  attempts integer NOT NULL DEFAULT 1,
  first_at bigint NOT NULL,
  last_at bigint NOT NULL,
  PRIMARY KEY (kyc_record_id, user_id)
);
CREATE INDEX IF NOT EXISTS buyflow_identity_conflicts_last ON buyflow_identity_conflicts (last_at);

-- Accounts verified before this migration: each record binds its earliest verified account.
INSERT INTO buyflow_identities (kyc_record_id, user_id, source, created_at)
  SELECT DISTINCT ON (u.kyc_record_id) u.kyc_record_id, u.id, CASE WHEN u.kyc_source = 'shared' THEN 'shared' ELSE 'buyflow' END, u.created_at
  FROM buyflow_users u JOIN kyc_records r ON r.id = u.kyc_record_id
  WHERE u.kyc_level <> 'NONE' AND NOT EXISTS (SELECT 1 FROM buyflow_identities i WHERE i.user_id = u.id)
  ORDER BY u.kyc_record_id, u.created_at, u.id
  ON CONFLICT DO NOTHING;

-- The other accounts a shared record verified are listed for the operator and return to unverified (they do their
-- own KYC). They keep kyc_record_id, so their purchases of the last 24 h still count against that identity's limit
-- until their own KYC passes; a proof of address they had passed is applied again then (address_review_since).
INSERT INTO buyflow_identity_conflicts (kyc_record_id, user_id, detected_by, first_at, last_at)
  SELECT u.kyc_record_id, u.id, 'migration', u.created_at, u.created_at
  FROM buyflow_users u JOIN kyc_records r ON r.id = u.kyc_record_id
  WHERE u.kyc_level <> 'NONE' AND NOT EXISTS (SELECT 1 FROM buyflow_identities i WHERE i.user_id = u.id)
  ON CONFLICT DO NOTHING;
UPDATE buyflow_users u SET kyc_level = 'NONE', kyc_source = NULL,
    address_review_since = CASE WHEN u.kyc_level = 'VERIFIED_PLUS' THEN u.created_at ELSE u.address_review_since END
  WHERE u.kyc_level <> 'NONE' AND EXISTS (SELECT 1 FROM kyc_records r WHERE r.id = u.kyc_record_id)
    AND NOT EXISTS (SELECT 1 FROM buyflow_identities i WHERE i.user_id = u.id);
