-- One person, one account (issue #16). The buy-flow user row is the account: its identifier (lower-case e-mail or
-- +E.164 phone), password, verification, KYC level and limits. `payers` becomes the account's payer profile, linked
-- 1:1 by payers.user_id; the ledger's 'payer' owner keeps the payer id, so no ledger row moves. Only e-mail accounts
-- have a payer profile (a phone-only account cannot log in at the checkout or receive an e-mail payout).
-- The payer's own copies of e-mail, password, KYC status and country go: the account holds them once.

-- An account started at /signup has no password until its code is entered and the person chooses one.
ALTER TABLE buyflow_users ALTER COLUMN password_hash DROP NOT NULL;
-- A reviewer's REJECT of the account's payout KYC (sandbox decision on a payer id); a pass clears it.
ALTER TABLE buyflow_users ADD COLUMN kyc_rejected_at bigint;
ALTER TABLE payers ADD COLUMN user_id bigint REFERENCES buyflow_users (id);

-- 1. A payer and an e-mail account with the same lower-cased e-mail are one person.
UPDATE payers p SET user_id = u.id FROM buyflow_users u
  WHERE u.identifier_kind = 'email' AND u.identifier = lower(p.email) AND p.user_id IS NULL;

-- 2. Which password survives when both exist: the account's, if its owner proved the e-mail with a code (a person
-- chose it, under the buy flow's password rules); else the payer's (set by the operator through the sandbox helper or
-- the seed, for an e-mail the operator vouched for), and the account counts as verified from the payer's creation.
-- An unverified account's password was never proven to belong to the e-mail's owner, so it must not win.
UPDATE buyflow_users u SET password_hash = p.password_hash, verified_at = p.created_at
  FROM payers p WHERE p.user_id = u.id AND u.verified_at IS NULL;

-- 3. KYC both ways: a payer PASS verifies the account (source 'payer'); a payer REJECT is kept as the rejection;
-- an account verified in the buy flow is PASS for payouts (derived from kyc_level from now on). The payer's country
-- fills the account's when the account has none.
UPDATE buyflow_users u SET kyc_level = 'VERIFIED', kyc_source = 'payer'
  FROM payers p WHERE p.user_id = u.id AND p.kyc_status = 'PASS' AND u.kyc_level = 'NONE';
UPDATE buyflow_users u SET kyc_rejected_at = p.created_at
  FROM payers p WHERE p.user_id = u.id AND p.kyc_status = 'REJECT' AND u.kyc_level = 'NONE';
UPDATE buyflow_users u SET country = p.country
  FROM payers p WHERE p.user_id = u.id AND u.country IS NULL AND p.country IS NOT NULL;

-- 4. Payers without an account get one, with the payer's id as the account id (payer ids are 13 digits, the id
-- generator's 18 to 19, so they cannot collide).
INSERT INTO buyflow_users (id, identifier, identifier_kind, password_hash, verified_at, country, kyc_level, kyc_source,
    kyc_rejected_at, created_at)
  SELECT p.id, lower(p.email), 'email', p.password_hash, p.created_at, p.country,
    CASE WHEN p.kyc_status = 'PASS' THEN 'VERIFIED' ELSE 'NONE' END,
    CASE WHEN p.kyc_status = 'PASS' THEN 'payer' END,
    CASE WHEN p.kyc_status = 'REJECT' THEN p.created_at END,
    p.created_at
  FROM payers p WHERE p.user_id IS NULL;
UPDATE payers SET user_id = id WHERE user_id IS NULL;

ALTER TABLE payers DROP COLUMN email;
ALTER TABLE payers DROP COLUMN password_hash;
ALTER TABLE payers DROP COLUMN kyc_status;
ALTER TABLE payers DROP COLUMN country;

-- 5. E-mail accounts without a payer profile get one (their balance starts empty).
INSERT INTO payers (user_id, created_at)
  SELECT u.id, u.created_at FROM buyflow_users u
  WHERE u.identifier_kind = 'email' AND NOT EXISTS (SELECT 1 FROM payers p WHERE p.user_id = u.id);

ALTER TABLE payers ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE payers ADD CONSTRAINT payers_user_id_key UNIQUE (user_id);
