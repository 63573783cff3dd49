import type { Db } from '../../platform/db/client.ts';
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
export type ReportRowType = 'PAYMENT' | 'REFUND' | 'OTHER';

export interface ReportRow {
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

export interface AssetReport {
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
