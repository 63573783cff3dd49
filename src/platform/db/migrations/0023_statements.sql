-- Reports of the extended Pay surface (binance-pay-extended.md §13), owned by src/pay/statements.
--
-- Download links: `{PUBLIC_URL}/binancepay/files/{token}/{fileName}`. A token is 128 random bits naming what the file
-- holds (`source`: a daily file's kind and UTC day, or a balance report) and when the link lapses (business clock). The
-- file is rendered when it is downloaded; an unknown, expired or mismatched link is HTTP 404.
CREATE TABLE pay_report_files (
  token text PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  file_name text NOT NULL,
  source jsonb NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX pay_report_files_expiry ON pay_report_files (expires_at);

-- Balance reports (§13.3–§13.5): PROCESSING → SUCCESS | FAILED, SUCCESS → EXPIRED after 24 h. Only
-- src/pay/statements/service.ts `transition` writes `status`. `content` is the generated file's content (the ledger
-- movements of the requested interval), dropped when the report expires.
CREATE TABLE pay_balance_reports (
  download_id bigint PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  creator_merchant_id bigint NOT NULL,
  wallet_type text CHECK (wallet_type IN ('SPOT_WALLET', 'FUNDING_WALLET')),
  start_date text NOT NULL,
  end_date text NOT NULL,
  status text NOT NULL CHECK (status IN ('PROCESSING', 'SUCCESS', 'FAILED', 'EXPIRED')),
  attempts integer NOT NULL DEFAULT 0,
  due_at bigint,
  file_name text NOT NULL,
  file_token text,
  content jsonb,
  last_error text,
  created_at bigint NOT NULL,
  completed_at bigint,
  expires_at bigint
);
CREATE INDEX pay_balance_reports_due ON pay_balance_reports (due_at) WHERE status IN ('PROCESSING', 'SUCCESS');
CREATE INDEX pay_balance_reports_merchant ON pay_balance_reports (merchant_id, created_at);

-- Balance report requests per merchant and calendar month (UTC, business clock), at most 50: counted by a
-- conditional upsert in the transaction that inserts the report, so concurrent requests cannot pass the limit.
CREATE TABLE pay_balance_report_quota (
  merchant_id bigint NOT NULL REFERENCES merchants (id),
  month text NOT NULL,
  used integer NOT NULL CHECK (used BETWEEN 0 AND 50),
  PRIMARY KEY (merchant_id, month)
);
