import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import type { Ledger, PostedTransfer } from '../../platform/ledger/service.ts';
import { Decimal } from '../../platform/money.ts';

/**
 * Reconciliation: a merchant's transactions of one UTC day (business clock), per asset, read from the
 * ledger alone. Each row is one posted transfer on the merchant's account with the running posted
 * balance after it, so the closing balance is the account's posted balance at the end of the day —
 * for today, what /v2/balance reports as available + freeze. Payments are credited net of commission;
 * the commission (a separate transfer from the payer to the platform) is shown beside the payment.
 */
type ReportRowType = 'PAYMENT' | 'REFUND' | 'OTHER';

interface ReportRow {
  time: number;
  asset: string;
  type: ReportRowType;
  kind: string;
  transferId: string;
  prepayId: string | null;
  /** Payment: what the payer paid (net + commission); refund: the refund; other: the transfer amount. */
  grossAmount: string;
  commission: string;
  /** Signed change of the merchant's balance. */
  amount: string;
  /** Posted balance after this row. */
  balance: string;
}

interface AssetReport {
  asset: string;
  openingBalance: string;
  closingBalance: string;
  totals: { payments: string; commissions: string; refunds: string; other: string; net: string };
  transactions: ReportRow[];
}

export interface DailyReport {
  merchantId: string;
  date: string;
  from: number;
  to: number;
  assets: AssetReport[];
}

const DAY_MS = 86_400_000;
const TYPE_OF_KIND: Record<string, ReportRowType> = { 'pay.payment': 'PAYMENT', 'pay.refund': 'REFUND' };

/** 8 decimals like the Pay API, more only when an amount really has them (chain assets). */
const amt = (d: Decimal.Value) => {
  const x = new Decimal(d);
  return x.decimalPlaces() > 8 ? x.toFixed() : x.toFixed(8);
};

/** Start of the UTC day `YYYY-MM-DD`, or null for anything that is not a real calendar date. */
export function utcDayStart(date: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return new Date(t).toISOString().slice(0, 10) === date ? t : null;
}

export function createReportService(deps: { db: Db; ledger: Ledger }) {
  const { db, ledger } = deps;

  return {
    async daily(merchantId: string, date: string): Promise<Result<DailyReport, 'INVALID_DATE'>> {
      const from = utcDayStart(date);
      if (from === null) return err('INVALID_DATE', 'date must be a calendar date YYYY-MM-DD');
      const to = from + DAY_MS;
      const assets = await db.tx(async (q) => {
        // One snapshot for every read, so the balances and the rows agree even while money moves.
        await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        const out: AssetReport[] = [];
        for (const b of await ledger.balances(q, 'merchant', merchantId)) {
          const account = { ownerType: 'merchant' as const, ownerId: merchantId, asset: b.asset };
          const { opening, transfers } = await ledger.statement(q, account, from, to);
          const payments = transfers.filter((t) => t.kind === 'pay.payment' && t.ref);
          const commissions = new Map<string, string>();
          for (const c of await ledger.postedByRef(
            q,
            'pay.commission',
            payments.map((p) => p.ref!),
          )) {
            if (c.asset === b.asset) commissions.set(c.ref!, c.amount);
          }
          out.push(assetReport(b.asset, `merchant:${merchantId}:${b.asset}`, opening, transfers, commissions));
        }
        return out.filter((a) => a.transactions.length > 0 || !new Decimal(a.openingBalance).isZero());
      });
      return ok({ merchantId, date, from, to, assets });
    },
  };
}

function assetReport(
  asset: string,
  accountId: string,
  opening: string,
  transfers: PostedTransfer[],
  commissions: Map<string, string>,
): AssetReport {
  let balance = new Decimal(opening);
  const sums = {
    payments: new Decimal(0),
    commissions: new Decimal(0),
    refunds: new Decimal(0),
    other: new Decimal(0),
  };
  const transactions = transfers.map((t): ReportRow => {
    const signed = t.creditAccount === accountId ? new Decimal(t.amount) : new Decimal(t.amount).neg();
    balance = balance.plus(signed);
    const type = TYPE_OF_KIND[t.kind] ?? 'OTHER';
    const commission = type === 'PAYMENT' ? new Decimal(commissions.get(t.ref ?? '') ?? 0) : new Decimal(0);
    const gross = type === 'PAYMENT' ? signed.plus(commission) : signed.abs();
    if (type === 'PAYMENT') {
      sums.payments = sums.payments.plus(gross);
      sums.commissions = sums.commissions.plus(commission);
    } else if (type === 'REFUND') sums.refunds = sums.refunds.plus(gross);
    else sums.other = sums.other.plus(signed);
    return {
      time: t.resolvedAt,
      asset,
      type,
      kind: t.kind,
      transferId: t.id,
      prepayId: t.kind.startsWith('pay.') ? t.ref : null,
      grossAmount: amt(gross),
      commission: amt(commission),
      amount: amt(signed),
      balance: amt(balance),
    };
  });
  return {
    asset,
    openingBalance: amt(opening),
    closingBalance: amt(balance),
    totals: {
      payments: amt(sums.payments),
      commissions: amt(sums.commissions),
      refunds: amt(sums.refunds),
      other: amt(sums.other),
      net: amt(balance.minus(opening)),
    },
    transactions,
  };
}

export const REPORT_CSV_HEADER = [
  'time',
  'asset',
  'type',
  'kind',
  'transferId',
  'prepayId',
  'grossAmount',
  'commission',
  'amount',
  'balance',
];

const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** One header line, then one line per transaction (all assets, each in posting order); CRLF as RFC 4180. */
export function reportCsv(r: DailyReport): string {
  const lines = [REPORT_CSV_HEADER.join(',')];
  for (const a of r.assets) {
    for (const t of a.transactions) {
      lines.push(
        [
          new Date(t.time).toISOString(),
          t.asset,
          t.type,
          t.kind,
          t.transferId,
          t.prepayId ?? '',
          t.grossAmount,
          t.commission,
          t.amount,
          t.balance,
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  return lines.join('\r\n') + '\r\n';
}

/**
 * The rows of the merchant's daily files (binance-pay-extended.md §13.2) that come from orders and refunds, read
 * here, in the Pay domain that owns pay_orders and pay_refunds, for src/pay/statements. Every time is the business
 * clock's (ms); a day is [from, to).
 */
export interface StatementOrder {
  createTime: number;
  merchantId: string;
  /** The sub-merchant the order is tagged with (§12.4), when the order carries one. */
  subMerchantId: string | null;
  prepayId: string;
  merchantTradeNo: string;
  transactionId: string | null;
  terminalType: string;
  currency: string;
  orderAmount: string;
  /** Null until the order is paid. */
  commission: string | null;
  /** The sum of the order's successful refunds. */
  refundedAmount: string;
  status: string;
  openUserId: string | null;
  productName: string;
  /** When the order became PAID; null if it never did. */
  transactTime: number | null;
}

export interface StatementRefund {
  completedAt: number;
  merchantId: string;
  subMerchantId: string | null;
  refundId: string;
  refundRequestId: string;
  prepayId: string;
  merchantTradeNo: string;
  currency: string;
  refundAmount: string;
}

/**
 * `sub_merchant_id` is read through to_jsonb so that the statement holds whether or not the column exists (it comes
 * with sub-merchants, migration 0022).
 */
const ORDER_SELECT = `SELECT o.create_time, o.merchant_id, to_jsonb(o) ->> 'sub_merchant_id' AS sub_merchant_id,
    o.prepay_id, o.merchant_trade_no, o.transaction_id, o.terminal_type, o.currency, o.order_amount, o.commission,
    o.status, o.open_user_id, o.product_name, o.transact_time,
    (SELECT coalesce(sum(r.refund_amount), 0) FROM pay_refunds r WHERE r.prepay_id = o.prepay_id
    AND r.status = 'SUCCESS')
      AS refunded_amount
  FROM pay_orders o`;

const toStatementOrder = (r: DbRow): StatementOrder => ({
  createTime: Number(r.create_time),
  merchantId: String(r.merchant_id),
  subMerchantId: r.sub_merchant_id ?? null,
  prepayId: String(r.prepay_id),
  merchantTradeNo: r.merchant_trade_no,
  transactionId: r.transaction_id,
  terminalType: r.terminal_type,
  currency: r.currency,
  orderAmount: new Decimal(r.order_amount).toFixed(),
  commission: r.commission === null ? null : new Decimal(r.commission).toFixed(),
  refundedAmount: new Decimal(r.refunded_amount).toFixed(),
  status: r.status,
  openUserId: r.open_user_id,
  productName: r.product_name,
  transactTime: r.transact_time === null ? null : Number(r.transact_time),
});

/** The UTC days (their start, ms) in [from, to) on which `column` of the merchant's rows falls, newest first. */
const DAYS = (table: string, column: string, extra = '') =>
  `SELECT DISTINCT (${column} / ${DAY_MS}) * ${DAY_MS} AS day FROM ${table}
   WHERE merchant_id = $1 AND ${column} >= $2 AND ${column} < $3 ${extra} ORDER BY day DESC`;
const days = async (q: Queryable, sql: string, merchantId: string, from: number, to: number) =>
  (await q.query<{ day: string | bigint }>(sql, [merchantId, from, to])).rows.map((r) => Number(r.day));

/**
 * Statement sources of the Pay domain's own records: orders created (T_Payment), orders paid (S_Payment), refunds
 * that succeeded (S_Refund) in [from, to), each in time order; `*Days` lists the days that have any.
 */
export const statementSources = {
  orderDays: (q: Queryable, merchantId: string, from: number, to: number) =>
    days(q, DAYS('pay_orders', 'create_time'), merchantId, from, to),
  async ordersCreated(q: Queryable, merchantId: string, from: number, to: number): Promise<StatementOrder[]> {
    const r = await q.query(
      `${ORDER_SELECT} WHERE o.merchant_id = $1 AND o.create_time >= $2 AND o.create_time < $3
       ORDER BY o.create_time, o.prepay_id`,
      [merchantId, from, to],
    );
    return r.rows.map(toStatementOrder);
  },
  paidDays: (q: Queryable, merchantId: string, from: number, to: number) =>
    days(q, DAYS('pay_orders', 'transact_time'), merchantId, from, to),
  async ordersPaid(q: Queryable, merchantId: string, from: number, to: number): Promise<StatementOrder[]> {
    const r = await q.query(
      `${ORDER_SELECT} WHERE o.merchant_id = $1 AND o.transact_time >= $2 AND o.transact_time < $3
       ORDER BY o.transact_time, o.prepay_id`,
      [merchantId, from, to],
    );
    return r.rows.map(toStatementOrder);
  },
  refundDays: (q: Queryable, merchantId: string, from: number, to: number) =>
    days(q, DAYS('pay_refunds', 'completed_at', `AND status = 'SUCCESS'`), merchantId, from, to),
  async refundsSucceeded(q: Queryable, merchantId: string, from: number, to: number): Promise<StatementRefund[]> {
    const r = await q.query(
      `SELECT r.completed_at, r.merchant_id, to_jsonb(o) ->> 'sub_merchant_id' AS sub_merchant_id, r.refund_id,
         r.refund_request_id, r.prepay_id, o.merchant_trade_no, r.currency, r.refund_amount
       FROM pay_refunds r JOIN pay_orders o ON o.prepay_id = r.prepay_id
       WHERE r.merchant_id = $1 AND r.status = 'SUCCESS' AND r.completed_at >= $2 AND r.completed_at < $3
       ORDER BY r.completed_at, r.refund_id`,
      [merchantId, from, to],
    );
    return r.rows.map((x) => ({
      completedAt: Number(x.completed_at),
      merchantId: String(x.merchant_id),
      subMerchantId: x.sub_merchant_id ?? null,
      refundId: String(x.refund_id),
      refundRequestId: x.refund_request_id,
      prepayId: String(x.prepay_id),
      merchantTradeNo: x.merchant_trade_no,
      currency: x.currency,
      refundAmount: new Decimal(x.refund_amount).toFixed(),
    }));
  },
};
