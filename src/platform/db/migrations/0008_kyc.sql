-- KYC: sharing brokers, their shares, KYC records (shared by broker sharing and the Connect buy flow), files.

CREATE TABLE kyc_brokers (
  biz_entity_key text PRIMARY KEY,
  name text NOT NULL,
  secret_sealed text NOT NULL,                  -- AES-GCM under SECRETS_KEY: HMAC verification needs the secret itself
  sharing_mode text NOT NULL CHECK (sharing_mode IN ('STANDARD', 'PARTIAL')),
  ip_whitelist jsonb NOT NULL DEFAULT '[]',
  main_account_ids jsonb NOT NULL DEFAULT '[]', -- empty: any well-formed main account id is accepted
  questionnaire_versions jsonb NOT NULL DEFAULT '[]',
  max_sub_accounts_per_user integer NOT NULL DEFAULT 5,
  connect_partner_code text,                    -- facilitated KYC: the Connect partner of the same business
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
  created_at bigint NOT NULL
);

-- Which broker sub account belongs to which broker user (linking rules are checked synchronously).
CREATE TABLE kyc_sub_accounts (
  biz_entity_key text NOT NULL REFERENCES kyc_brokers (biz_entity_key),
  broker_sub_account_id text NOT NULL,
  broker_main_account_id text NOT NULL,
  entity_customer_id text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (biz_entity_key, broker_sub_account_id)
);
CREATE INDEX kyc_sub_accounts_user ON kyc_sub_accounts (biz_entity_key, entity_customer_id);

CREATE TABLE kyc_shares (
  id bigint PRIMARY KEY,
  biz_entity_key text NOT NULL REFERENCES kyc_brokers (biz_entity_key),
  request_no text NOT NULL,
  body_sha256 text NOT NULL,                    -- an identical retry is answered again; another body is a duplicate
  entity_customer_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('INIT', 'SUCCESS', 'FAIL')),
  fail_message text,
  payload_sealed text NOT NULL,                 -- the validated sections (PII), encrypted
  created_at bigint NOT NULL,
  completed_at bigint,
  UNIQUE (biz_entity_key, request_no)
);

CREATE TABLE kyc_records (
  id bigint PRIMARY KEY,                        -- the kycUserId
  source text NOT NULL CHECK (source IN ('broker', 'buyflow')),
  subject_key text NOT NULL,                    -- broker: bizEntityKey:entityCustomerId; buyflow: its own user key
  biz_entity_key text REFERENCES kyc_brokers (biz_entity_key),
  entity_customer_id text,
  notify_url text,                              -- latest userInfo.notifyUrl; '.' or null: no notifications
  kyc_status text NOT NULL,
  fail_reason text,
  basic_status text NOT NULL,
  basic_fail_reason text,
  identity_status text NOT NULL,
  identity_fail_reason text,
  face_status text NOT NULL,
  face_fail_reason text,
  wck_status text NOT NULL,
  risk_rate_level text NOT NULL DEFAULT 'LOW',
  basic_sealed text,                            -- sections, encrypted
  identity_sealed text,
  tnc_sealed text,
  questionnaire_sealed text,
  id_fingerprint text,                          -- keyed hash of idCountry|idType|idNumber: duplicate detection without plaintext
  identity_complete_time bigint,
  face_complete_time bigint,
  version integer NOT NULL DEFAULT 0,           -- every update is conditional on the version read
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  UNIQUE (source, subject_key)
);
CREATE INDEX kyc_records_status ON kyc_records (kyc_status, updated_at);
CREATE INDEX kyc_records_fingerprint ON kyc_records (id_fingerprint);

CREATE TABLE kyc_files (
  id bigint PRIMARY KEY,
  record_id bigint NOT NULL REFERENCES kyc_records (id),
  share_id bigint,
  field text NOT NULL,                          -- frontFileUrl, backFileUrl, faceFileUrl
  content_type text NOT NULL,
  size_bytes integer NOT NULL,
  data_sealed text NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX kyc_files_record ON kyc_files (record_id, id);
