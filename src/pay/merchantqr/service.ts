import type { AccountsService } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomAlnum } from '../../platform/crypto.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { raw } from '../../platform/json.ts';
import { Decimal, fixed } from '../../platform/money.ts';
import { WEBHOOK_TOPIC } from '../../platform/outbox/webhook-family.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import { featureEnabled, type Mode } from '../features.ts';
import type { NewOrder, Order, OrderHooks } from '../orders/service.ts';

/**
 * Static merchant QR codes (binance-pay-extended.md §17.3). A merchant registers codes (dashboard); a logged-in user
 * opening `{PUBLIC_URL}/qr/{code}` creates a scan (the referId) and the MERCHANT_QR_CODE webhook in one transaction; an
 * order created with `qrCodeReferId` within 5 minutes claims the scan, is linked to it and is payable only by the
 * scanning user.
 */
export const SCAN_TTL_MS = 5 * 60_000;
/** A claim whose order was never stored (refused after the hooks) frees the scan again after this long. */
const CLAIM_LAPSE_MS = 30_000;
export const QR_TYPES = ['FIXED_AMOUNT', 'USER_INPUT_AMOUNT'] as const;
export type QrType = (typeof QR_TYPES)[number];

export interface QrCode {
  code: string;
  merchantId: string;
  qrType: QrType;
  label: string;
  amount: string | null;
  currency: string | null;
  createdAt: number;
  /** Set when the merchant disabled the code: it is no longer scanned. */
  disabledAt: number | null;
}
export interface Scan {
  referId: string;
  code: string;
  merchantId: string;
  payerId: string;
  scannedAt: number;
  expireTime: number;
  prepayId: string | null;
}
const toCode = (r: DbRow): QrCode => ({
  code: r.code,
  merchantId: String(r.merchant_id),
  qrType: r.qr_type,
  label: r.label,
  amount: r.amount === null ? null : fixed(r.amount, 8),
  currency: r.currency,
  createdAt: Number(r.created_at),
  disabledAt: r.disabled_at === null || r.disabled_at === undefined ? null : Number(r.disabled_at),
});
const toScan = (r: DbRow): Scan => ({
  referId: String(r.refer_id),
  code: r.code,
  merchantId: String(r.merchant_id),
  payerId: String(r.payer_id),
  scannedAt: Number(r.scanned_at),
  expireTime: Number(r.expire_time),
  prepayId: r.prepay_id === null ? null : String(r.prepay_id),
});

/** The MERCHANT_QR_CODE body: `data` an object, per the published table (§17.3), unlike every other Pay event. */
export function merchantQrWebhookBody(referId: string, data: { qrContent: string; qrCodeType: QrType }): string {
  return (
    `{"bizType":"MERCHANT_QR_CODE","bizId":${raw(referId).text},"bizIdStr":${JSON.stringify(referId)},` +
    `"bizStatus":"MERCHANT_QR_CODE_SCANED","data":${JSON.stringify({
      qrContent: data.qrContent,
      referId,
      qrCodeType: data.qrCodeType,
    })}}`
  );
}

export function createMerchantQrService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  outbox: Outbox;
  accounts: AccountsService;
  publicUrl: string;
  mode: Mode;
}) {
  const { db, clock, ids, outbox, accounts } = deps;
  const content = (code: string) => `${deps.publicUrl}/qr/${code}`;

  async function enabled(merchantId: string, q: Queryable = db) {
    const m = await accounts.getMerchant(merchantId, q);
    return !!m && m.status !== 'SUSPENDED' && featureEnabled(m, 'merchantQrCode', deps.mode);
  }

  async function getCode(code: string): Promise<QrCode | null> {
    if (!/^[A-Za-z0-9]{6,16}$/.test(code)) return null;
    const r = (await db.query(`SELECT * FROM pay_merchant_qr_codes WHERE code = $1`, [code])).rows[0];
    return r ? toCode(r) : null;
  }

  return {
    now: () => clock.now(),
    content,
    enabled,
    getCode,

    /** A new static code (the dashboard's form; the caller checked the fields). Refused unless the flag is on. */
    async register(
      merchantId: string,
      input: { qrType: QrType; label: string; amount?: string | null; currency?: string | null },
    ): Promise<Result<QrCode, 'FEATURE_DISABLED'>> {
      if (!(await enabled(merchantId))) return err('FEATURE_DISABLED', 'Merchant QR codes are not enabled.');
      const fixedAmount = input.qrType === 'FIXED_AMOUNT';
      const r = await db.query(
        `INSERT INTO pay_merchant_qr_codes (code, merchant_id, qr_type, label, amount, currency, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [
          randomAlnum(8),
          merchantId,
          input.qrType,
          input.label,
          fixedAmount ? input.amount : null,
          fixedAmount ? input.currency : null,
          clock.now(),
        ],
      );
      return ok(toCode(r.rows[0]));
    },

    async list(merchantId: string): Promise<QrCode[]> {
      const r = await db.query(
        `SELECT * FROM pay_merchant_qr_codes WHERE merchant_id = $1 ORDER BY created_at DESC, code LIMIT 200`,
        [merchantId],
      );
      return r.rows.map(toCode);
    },

    /** The merchant disables its code (again: no change); false when the code is not this merchant's. */
    async disable(merchantId: string, code: string): Promise<boolean> {
      const r = await db.query(
        `UPDATE pay_merchant_qr_codes SET disabled_at = COALESCE(disabled_at, $3) WHERE code = $1 AND merchant_id = $2`,
        [code, merchantId, clock.now()],
      );
      return r.rowCount === 1;
    },

    /**
     * A user scanned `code`: the scan and its webhook in one transaction. Null for an unknown or disabled code, or when
     * the merchant's flag is off.
     */
    async scan(code: string, payerId: string): Promise<Scan | null> {
      const c = await getCode(code);
      if (!c || c.disabledAt !== null) return null;
      return db.tx(async (q) => {
        // Read under a share lock, so a scan and the merchant's Disable do not cross.
        const live = await q.query(
          `SELECT 1 FROM pay_merchant_qr_codes WHERE code = $1 AND disabled_at IS NULL FOR SHARE`,
          [c.code],
        );
        if (live.rows.length === 0 || !(await enabled(c.merchantId, q))) return null;
        const now = clock.now();
        const referId = String(ids.next());
        const r = await q.query(
          `INSERT INTO pay_merchant_qr_scans (refer_id, code, merchant_id, payer_id, scanned_at, expire_time)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [referId, c.code, c.merchantId, payerId, now, now + SCAN_TTL_MS],
        );
        const merchant = await accounts.getMerchant(c.merchantId, q);
        if (merchant?.webhookUrl)
          await outbox.enqueue(q, {
            topic: WEBHOOK_TOPIC,
            orderingKey: `pay:${referId}`,
            payload: {
              family: 'pay',
              url: merchant.webhookUrl,
              bizType: 'MERCHANT_QR_CODE',
              bizId: referId,
              bizStatus: 'MERCHANT_QR_CODE_SCANED',
              ownerId: c.merchantId,
              body: merchantQrWebhookBody(referId, { qrContent: content(c.code), qrCodeType: c.qrType }),
            },
          });
        return toScan(r.rows[0]);
      });
    },

    async getScan(referId: string): Promise<Scan | null> {
      if (!/^\d{1,19}$/.test(referId)) return null;
      const r = (await db.query(`SELECT * FROM pay_merchant_qr_scans WHERE refer_id = $1`, [referId])).rows[0];
      return r ? toScan(r) : null;
    },
  };
}
export type MerchantQrService = ReturnType<typeof createMerchantQrService>;

/** The order's qrCodeReferId as digits (a JSON number arrives as its text), or null when it is something else. */
function referIdOf(input: NewOrder): string | null {
  const v = input.extra?.qrCodeReferId;
  return typeof v === 'string' && /^\d{1,19}$/.test(v) && BigInt(v) < 1n << 63n ? v : null;
}

/**
 * The order service's part of §17.3: refuse an order naming an unknown, expired, used or other merchant's scan, or a
 * FIXED_AMOUNT code's scan with another amount or currency (400102); claim the scan before the insert, so two orders
 * racing for one scan cannot both pass; link it after; let only the scanning user pay.
 */
export function createMerchantQrHooks(deps: { db: Db; clock: Clock }): OrderHooks {
  const { db, clock } = deps;
  return {
    applies: (input) => input.extra?.qrCodeReferId != null,

    async beforeCreate(merchantId, input) {
      const referId = referIdOf(input);
      if (referId === null) return err('FIELD_FORMAT', 'qrCodeReferId: must be the referId of a scan (digits)');
      const now = clock.now();
      const s = (
        await db.query(
          `SELECT s.*, c.qr_type, c.amount, c.currency FROM pay_merchant_qr_scans s
            JOIN pay_merchant_qr_codes c ON c.code = s.code WHERE s.refer_id = $1 AND s.merchant_id = $2`,
          [referId, merchantId],
        )
      ).rows[0];
      const refuse = (why: string) => err('FIELD_VALUE' as const, `qrCodeReferId: ${why}`);
      if (!s) return refuse('is unknown');
      if (s.prepay_id !== null) return refuse('was already used');
      if (Number(s.expire_time) <= now) return refuse('has expired');
      if (s.qr_type === 'FIXED_AMOUNT') {
        const same =
          input.orderAmount != null &&
          input.currency === s.currency &&
          new Decimal(input.orderAmount).eq(new Decimal(s.amount));
        if (!same) return refuse(`the code is for ${fixed(s.amount, 8)} ${s.currency}`);
      }
      const claimed = await db.query(
        `UPDATE pay_merchant_qr_scans SET claimed_trade_no = $2, claimed_at = $3
          WHERE refer_id = $1 AND prepay_id IS NULL AND expire_time > $3
          AND (claimed_trade_no IS NULL OR claimed_trade_no = $2 OR claimed_at <= $4)`,
        [referId, input.merchantTradeNo, now, now - CLAIM_LAPSE_MS],
      );
      return claimed.rowCount === 1 ? ok(undefined) : refuse('was already used');
    },

    async afterCreate(order: Order, input) {
      const referId = referIdOf(input)!; // beforeCreate refused any other
      await db.tx(async (q) => {
        await q.query(`INSERT INTO pay_merchant_qr_orders (prepay_id, refer_id) VALUES ($1, $2)`, [
          order.prepayId,
          referId,
        ]);
        await q.query(
          `UPDATE pay_merchant_qr_scans SET prepay_id = $2
            WHERE refer_id = $1 AND claimed_trade_no = $3 AND prepay_id IS NULL`,
          [referId, order.prepayId, order.merchantTradeNo],
        );
      });
    },

    async payerRequired(q, order) {
      const r = await q.query(`SELECT 1 FROM pay_merchant_qr_orders WHERE prepay_id = $1`, [order.prepayId]);
      return r.rows.length > 0;
    },

    async payableBy(q, order, payerId) {
      const r = (
        await q.query(
          `SELECT s.payer_id FROM pay_merchant_qr_orders o
            LEFT JOIN pay_merchant_qr_scans s ON s.refer_id = o.refer_id AND s.prepay_id = o.prepay_id
            WHERE o.prepay_id = $1`,
          [order.prepayId],
        )
      ).rows[0];
      if (!r) return true; // not a QR order
      return r.payer_id !== null && String(r.payer_id) === payerId;
    },
  };
}
