-- Outgoing mail: every message is recorded (body encrypted) and sent by a worker through SMTP,
-- or kept in the dev mailbox when no SMTP server is configured.

CREATE TABLE mail_messages (
  id bigint PRIMARY KEY,
  to_address text NOT NULL,
  subject text NOT NULL,
  body_sealed text NOT NULL,
  status text NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'SENT', 'DEV_MAILBOX', 'FAILED')),
  created_at bigint NOT NULL,
  sent_at bigint,
  last_error text
);
CREATE INDEX mail_messages_to ON mail_messages (to_address, created_at);
