-- A merchant may disable a static QR code (binance-pay-extended.md §17.3, dashboard): a disabled code is no longer
-- scanned (its page answers 404) and stays listed; scans made before keep their 5 minutes.
ALTER TABLE pay_merchant_qr_codes ADD COLUMN disabled_at bigint;
