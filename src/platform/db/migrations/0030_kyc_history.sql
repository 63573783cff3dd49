-- A KYC record's history for the reviewer (src/kyc/service.ts saveRecord): one row per saved change of its checks.
CREATE TABLE kyc_record_history (
  record_id bigint NOT NULL REFERENCES kyc_records (id),
  version integer NOT NULL,                     -- kyc_records.version after the change
  at bigint NOT NULL,
  kyc_status text NOT NULL,
  checks text NOT NULL,                         -- 'basic=PASS identity=REVIEW face=INITIAL wck=PASS'
  fail_reason text,
  note text,                                    -- the reviewer's decision and reason, when it was one
  PRIMARY KEY (record_id, version)
);
