-- The operator console (src/admin/console): operator accounts with a password and an authenticator (TOTP), and the
-- audit log of every operator action, whether it came through the console or the admin API with the bearer token.
CREATE TABLE operator_users (
  id text PRIMARY KEY,
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,                   -- scrypt
  totp_secret_sealed text NOT NULL,              -- base32 secret, sealed with the secrets key
  totp_last_step bigint NOT NULL DEFAULT 0,      -- the last 30-second step accepted: a code is good once
  role text NOT NULL CHECK (role IN ('admin', 'reviewer')),
  created_at bigint NOT NULL,
  disabled_at bigint
);

CREATE TABLE operator_audit_log (
  id bigint PRIMARY KEY,
  at bigint NOT NULL,
  actor text NOT NULL,                           -- 'admin-token', 'operator:<id>' or 'anonymous' (refused)
  actor_email text,
  method text NOT NULL,
  path text NOT NULL,                            -- the request path, query string dropped
  status integer NOT NULL,
  summary text NOT NULL
);
CREATE INDEX operator_audit_log_at ON operator_audit_log (at DESC, id DESC);
