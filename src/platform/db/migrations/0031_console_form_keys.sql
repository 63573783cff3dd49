-- Every console form carries a key drawn when the page was drawn (src/admin/console/routes.ts): a form is acted on once,
-- so a reload that re-posts it, or a second click, does nothing a second time (a second API key, a second decision).
CREATE TABLE console_form_keys (
  form_key text PRIMARY KEY,
  used_at bigint NOT NULL
);
CREATE INDEX console_form_keys_used_at ON console_form_keys (used_at);
