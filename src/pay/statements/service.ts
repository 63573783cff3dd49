import type { AccountsService } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomHex } from '../../platform/crypto.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { raw } from '../../platform/json.ts';
import { accountId, type Ledger } from '../../platform/ledger/service.ts';
import type { Logger } from '../../platform/logger.ts';
import { Decimal } from '../../platform/money.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import type { ExtendedError } from '../codes.ts';
import { enqueuePayWebhook } from '../events.ts';
import type { Actor } from '../orders/service.ts';
import { fitsInt8 } from '../validation.ts';
import { MERCHANT_WALLETS, merchantAccount, walletOwnerType, type MerchantWallet } from '../wallets.ts';
import {
  addMonths,
  cellAmount,
  cellTime,
  COLUMNS,
  DAY_MS,
  dmy,
  dmyCompact,
  parseDayDmy,
  parseDayIso,
  paymentRow,
  payoutRow,
  refundRow,
  settlementRow,
  startOfDay,
  ymdCompact,
  type DailyKind,
  type OrderReportSource,
  type PayoutReportSource,
} from './files.ts';
import { csv, xlsx, XLSX_TYPE } from './xlsx.ts';

/**
 * Reports (binance-pay-extended.md §13): daily files of payments, payouts, settlements and refunds, and balance
 * reports generated in the background. No money moves here.
 *
 * Time. Every day is a UTC day of the business clock, which the sandbox can move: "today" (excluded), the row times
 * and the link lifetimes all follow it. Decision: download links lapse on the business clock too (1 hour for daily
 * files, 24 hours for a balance report), so an integrator can see a link expire by advancing the sandbox clock, and
 * so that a link's lifetime agrees with the `expirationTimestamp` the BALANCE webhook announces (business time). In
 * production the business clock is the wall clock.
 *
 * Balance reports are a small step machine; `transition` is the only writer of their status:
 *
 *   PROCESSING ──generated──▶ SUCCESS ──24 h──▶ EXPIRED
 *        └──3 failed attempts──▶ FAILED
 *
 * Generation, the download token, the move to SUCCESS and the BALANCE webhook are one transaction, so the webhook is
 * queued exactly once per report.
 */
const FILE_LINK_MS = 60 * 60_000;
const REPORT_LINK_MS = 24 * 60 * 60_000;
const MONTHLY_BALANCE_REPORTS = 50;
const MAX_ATTEMPTS = 3;

type BalanceStatus = 'PROCESSING' | 'SUCCESS' | 'FAILED' | 'EXPIRED';
const TRANSITIONS: Record<BalanceStatus, readonly BalanceStatus[]> = {
  PROCESSING: ['SUCCESS', 'FAILED'],
  SUCCESS: ['EXPIRED'],
  FAILED: [],
  EXPIRED: [],
};

export interface DailyFile {
  reportType: 'Transaction' | 'Settlement';
  transactionType: 'Payment' | 'Payout' | 'Refund';
  transactionDate: string;
  fileName: string;
  downloadUrl: string;
}

interface FileRequest {
  reportType: 'Transaction' | 'Settlement';
  transactionType?: string | null;
  startDate: string;
  endDate: string;
}

interface BalanceRequest {
  walletType: MerchantWallet | null;
  startDate: string;
  endDate: string;
}

/** What a download link names (`pay_report_files.source`). */
type FileSource = { kind: DailyKind; day: number } | { kind: 'Balance'; downloadId: string };

interface Download {
  fileName: string;
  contentType: string;
  body: string | Uint8Array;
}

const rule = (message: string) => err<ExtendedError>('BUSINESS_RULE', message);

/** The Type column of a balance report, from the ledger transfer's kind and direction (§13.3). */
export function movementType(kind: string, credit: boolean): string {
  if (kind === 'pay.payment') return 'PAYMENT';
  if (kind === 'pay.refund') return 'REFUND';
  if (kind.includes('payout')) return credit ? 'PAYOUT_REFUND' : 'PAYOUT';
  if (kind.includes('transfer')) return credit ? 'TRANSFER_IN' : 'TRANSFER_OUT';
  if (kind.includes('convert')) return 'CONVERT';
  if (kind.includes('split')) return kind.includes('return') ? 'SPLIT_RETURN' : 'SPLIT';
  if (kind.includes('direct_debit') || kind.includes('directdebit')) return 'DIRECT_DEBIT';
  return 'ADJUSTMENT';
}

export function createStatementService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  outbox: Outbox;
  accounts: AccountsService;
  logger: Logger;
  publicUrl: string;
  orders: OrderReportSource;
  payouts: PayoutReportSource;
}) {
  const { db, clock, ids, ledger, outbox, accounts, orders, payouts } = deps;
  const link = (token: string, fileName: string) => `${deps.publicUrl}/binancepay/files/${token}/${fileName}`;

  /** Days in [from, to) with rows of one kind, newest first. */
  async function daysOf(q: Queryable, kind: DailyKind, merchantId: string, from: number, to: number) {
    if (kind === 'T_Payment') return orders.orderDays(q, merchantId, from, to);
    if (kind === 'S_Payment') return orders.paidDays(q, merchantId, from, to);
    if (kind === 'S_Refund') return orders.refundDays(q, merchantId, from, to);
    const rows = await payouts.reportRows(q, merchantId, from, to);
    return [...new Set(rows.map((r) => startOfDay(r.createTime)))].sort((a, b) => b - a);
  }

  async function rowsOf(q: Queryable, kind: DailyKind, merchantId: string, day: number): Promise<string[][]> {
    const to = day + DAY_MS;
    if (kind === 'T_Payment') return (await orders.ordersCreated(q, merchantId, day, to)).map(paymentRow);
    if (kind === 'S_Payment') return (await orders.ordersPaid(q, merchantId, day, to)).map(settlementRow);
    if (kind === 'S_Refund') return (await orders.refundsSucceeded(q, merchantId, day, to)).map(refundRow);
    return (await payouts.reportRows(q, merchantId, day, to)).map(payoutRow);
  }

  /** The ledger movements of the merchant's wallets in [from, to), as the balance report's rows (§13.3). */
  async function balanceRows(
    q: Queryable,
    merchantId: string,
    wallet: MerchantWallet | null,
    from: number,
    to: number,
  ) {
    const out: { time: number; cells: string[] }[] = [];
    for (const w of wallet ? [wallet] : MERCHANT_WALLETS) {
      for (const b of await ledger.balances(q, walletOwnerType(w), merchantId)) {
        const account = merchantAccount(merchantId, w, b.asset);
        const id = accountId(account);
        const { opening, transfers } = await ledger.statement(q, account, from, to);
        let balance = new Decimal(opening);
        for (const t of transfers) {
          const credit = t.creditAccount === id;
          const change = credit ? new Decimal(t.amount) : new Decimal(t.amount).neg();
          balance = balance.plus(change);
          out.push({
            time: t.resolvedAt,
            cells: [
              cellTime(t.resolvedAt),
              w,
              b.asset,
              cellAmount(change),
              cellAmount(balance),
              movementType(t.kind, credit),
              t.ref ?? t.id,
            ],
          });
        }
      }
    }
    // Stable: within one account the ledger's posting order stays.
    return out.sort((a, b) => a.time - b.time).map((r) => r.cells);
  }

  async function transition(
    q: Queryable,
    downloadId: string,
    to: BalanceStatus,
    set: Record<string, unknown> = {},
  ): Promise<boolean> {
    const from = (Object.keys(TRANSITIONS) as BalanceStatus[]).filter((s) => TRANSITIONS[s].includes(to));
    const cols = Object.keys(set);
    const r = await q.query(
      `UPDATE pay_balance_reports SET status = $2${cols.map((c, i) => `, ${c} = $${i + 4}`).join('')}
       WHERE download_id = $1 AND status = ANY($3::text[])`,
      [downloadId, to, from, ...cols.map((c) => set[c])],
    );
    return r.rowCount === 1;
  }

  /** Generates one due report; 0 when none is due. */
  async function generateOne(): Promise<number> {
    let claimed: string | null = null;
    try {
      return await db.tx(async (q) => {
        const now = clock.now();
        const row = (
          await q.query(
            `SELECT * FROM pay_balance_reports WHERE status = 'PROCESSING' AND due_at <= $1
             ORDER BY due_at, download_id LIMIT 1 FOR UPDATE SKIP LOCKED`,
            [now],
          )
        ).rows[0];
        if (!row) return 0;
        const downloadId = String(row.download_id);
        const merchantId = String(row.merchant_id);
        claimed = downloadId;
        const rows = await balanceRows(
          q,
          merchantId,
          row.wallet_type,
          parseDayIso(row.start_date)!,
          parseDayIso(row.end_date)!,
        );
        const token = randomHex(16);
        const expiresAt = now + REPORT_LINK_MS;
        await q.query(
          `INSERT INTO pay_report_files (token, merchant_id, file_name, source, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [token, merchantId, row.file_name, JSON.stringify({ kind: 'Balance', downloadId }), now, expiresAt],
        );
        const moved = await transition(q, downloadId, 'SUCCESS', {
          content: JSON.stringify(rows),
          file_token: token,
          completed_at: now,
          expires_at: expiresAt,
          due_at: expiresAt,
        });
        if (!moved) throw new Error(`balance report ${downloadId} left PROCESSING while locked`);
        // §13.5: to the merchant's configured URL, once (this transaction is the only move to SUCCESS).
        const url = (await accounts.getMerchant(merchantId, q))?.webhookUrl ?? null;
        const downloadLink = link(token, row.file_name);
        await enqueuePayWebhook(outbox, q, {
          url,
          ownerId: merchantId,
          bizType: 'BALANCE',
          bizId: downloadId,
          bizStatus: 'BALANCE_SUCCESS',
          data: {
            downloadType: 'merchant_balance_download_task',
            downloadId: raw(downloadId),
            userId: raw(merchantId),
            status: raw('2'),
            downloadLink,
            expirationTimestamp: raw(String(expiresAt)),
            createTime: cellTime(Number(row.created_at)),
            callbackUrl: url,
          },
        });
        return 1;
      });
    } catch (e) {
      if (claimed === null) throw e;
      deps.logger.warn({ err: e, downloadId: claimed }, 'balance report generation failed');
      await db.tx(async (q) => {
        const r = await q.query<{ attempts: number }>(
          `UPDATE pay_balance_reports SET attempts = attempts + 1, last_error = $2, due_at = $3
           WHERE download_id = $1 AND status = 'PROCESSING' RETURNING attempts`,
          [claimed, String(e instanceof Error ? e.message : e).slice(0, 500), clock.now() + 60_000],
        );
        if ((r.rows[0]?.attempts ?? 0) >= MAX_ATTEMPTS) await transition(q, claimed!, 'FAILED');
      });
      return 1;
    }
  }

  return {
    /** §13.1: the files of the requested days that have rows, newest day first, each with a fresh 1-hour link. */
    async files(actor: Actor, input: FileRequest): Promise<Result<DailyFile[], ExtendedError>> {
      const start = parseDayDmy(input.startDate)!;
      const end = parseDayDmy(input.endDate)!;
      if (start > end) return rule('startDate must not be after endDate.');
      if (end >= addMonths(start, 3)) return rule('The span from startDate to endDate must be at most 3 months.');
      const now = clock.now();
      // Decision: a day has files once it has closed; today and later simply have none.
      const to = Math.min(end + DAY_MS, startOfDay(now));
      if (start >= to) return ok([]);
      const kinds: [DailyKind, DailyFile['transactionType']][] =
        input.reportType === 'Settlement'
          ? [
              ['S_Payment', 'Payment'],
              ['S_Refund', 'Refund'],
            ]
          : input.transactionType === 'Payout'
            ? [['T_Payout', 'Payout']]
            : [['T_Payment', 'Payment']];
      return db.tx(async (q) => {
        const byDay = new Map<number, [DailyKind, DailyFile['transactionType']][]>();
        for (const k of kinds)
          for (const day of await daysOf(q, k[0], actor.merchantId, start, to))
            byDay.set(day, [...(byDay.get(day) ?? []), k]);
        const files: (DailyFile & { token: string; source: FileSource })[] = [];
        for (const day of [...byDay.keys()].sort((a, b) => b - a)) {
          for (const [kind, transactionType] of byDay.get(day)!) {
            const token = randomHex(16);
            const fileName = `${kind}_${dmyCompact(day)}.xlsx`;
            files.push({
              reportType: input.reportType,
              transactionType,
              transactionDate: dmy(day),
              fileName,
              downloadUrl: link(token, fileName),
              token,
              source: { kind, day },
            });
          }
        }
        if (files.length)
          await q.query(
            `INSERT INTO pay_report_files (token, merchant_id, file_name, source, created_at, expires_at)
             SELECT t, $1, f, s::jsonb, $2, $3 FROM unnest($4::text[], $5::text[], $6::text[]) AS x(t, f, s)`,
            [
              actor.merchantId,
              now,
              now + FILE_LINK_MS,
              files.map((f) => f.token),
              files.map((f) => f.fileName),
              files.map((f) => JSON.stringify(f.source)),
            ],
          );
        return ok(files.map(({ token: _t, source: _s, ...f }) => f));
      });
    },

    /** §13.3: a report of [startDate, endDate) queued for the worker; at most 50 per merchant and calendar month. */
    async requestBalance(actor: Actor, input: BalanceRequest): Promise<Result<string, ExtendedError>> {
      const start = parseDayIso(input.startDate)!;
      const end = parseDayIso(input.endDate)!;
      if (end < start + DAY_MS) return rule('endDate must be at least one day after startDate.');
      if (end > addMonths(start, 3)) return rule('The span from startDate to endDate must be at most 3 months.');
      const now = clock.now();
      if (end > startOfDay(now))
        return rule('endDate must not be after today (UTC): the current day cannot be included.');
      return db.tx(async (q) => {
        const month = new Date(now).toISOString().slice(0, 7);
        const counted = await q.query(
          `INSERT INTO pay_balance_report_quota (merchant_id, month, used) VALUES ($1, $2, 1)
           ON CONFLICT (merchant_id, month) DO UPDATE SET used = pay_balance_report_quota.used + 1
           WHERE pay_balance_report_quota.used < $3 RETURNING used`,
          [actor.merchantId, month, MONTHLY_BALANCE_REPORTS],
        );
        if (counted.rows.length !== 1)
          return err<ExtendedError>('REPORT_LIMIT', 'Monthly balance report limit reached.');
        const downloadId = String(ids.next());
        await q.query(
          `INSERT INTO pay_balance_reports (download_id, merchant_id, creator_merchant_id, wallet_type, start_date,
             end_date, status, due_at, file_name, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'PROCESSING', $7, $8, $7)`,
          [
            downloadId,
            actor.merchantId,
            actor.creatorMerchantId,
            input.walletType,
            input.startDate,
            input.endDate,
            now,
            `B_${ymdCompact(start)}_${ymdCompact(end)}.xlsx`,
          ],
        );
        return ok(downloadId);
      });
    },

    /** The merchant's latest balance reports, newest first (the dashboard); a lapsed link reads as EXPIRED. */
    async recentBalanceReports(merchantId: string, limit = 20) {
      const rows = (
        await db.query(
          `SELECT download_id, wallet_type, start_date, end_date, status, file_token, file_name, created_at, expires_at
             FROM pay_balance_reports WHERE merchant_id = $1 ORDER BY created_at DESC, download_id DESC LIMIT $2`,
          [merchantId, limit],
        )
      ).rows;
      return rows.map((r) => {
        const lapsed = r.status === 'SUCCESS' && Number(r.expires_at) <= clock.now();
        const status: BalanceStatus = lapsed ? 'EXPIRED' : r.status;
        return {
          downloadId: String(r.download_id),
          walletType: r.wallet_type as MerchantWallet | null,
          startDate: r.start_date as string,
          endDate: r.end_date as string,
          status,
          downloadUrl: status === 'SUCCESS' ? link(r.file_token, r.file_name) : null,
          createdAt: Number(r.created_at),
        };
      });
    },

    /** §13.4: the report's status; an expired one is moved to EXPIRED here if the worker has not yet. */
    async queryBalance(
      merchantId: string,
      downloadId: string,
    ): Promise<{ exist: boolean; downloadUrl: string | null; status: BalanceStatus }> {
      const missing = { exist: false, downloadUrl: null, status: 'FAILED' as const };
      if (!/^\d{1,19}$/.test(downloadId) || !fitsInt8(downloadId)) return missing;
      let row: DbRow | undefined = (
        await db.query(`SELECT * FROM pay_balance_reports WHERE download_id = $1 AND merchant_id = $2`, [
          downloadId,
          merchantId,
        ])
      ).rows[0];
      if (!row) return missing;
      if (row.status === 'SUCCESS' && Number(row.expires_at) <= clock.now()) {
        await db.tx((q) => transition(q, downloadId, 'EXPIRED', { content: null, due_at: null }));
        row = { ...row, status: 'EXPIRED' };
      }
      const status = row.status as BalanceStatus;
      return {
        exist: true,
        downloadUrl: status === 'SUCCESS' ? link(row.file_token, row.file_name) : '',
        status,
      };
    },

    /**
     * The worker's tick: reports whose link lapsed → EXPIRED, then due reports generated (a few per tick), then
     * download tokens a day past their expiry deleted. Returns how much it did.
     */
    async runDue(batch = 10): Promise<number> {
      const now = clock.now();
      let done = 0;
      const expired = await db.query<{ download_id: bigint }>(
        `SELECT download_id FROM pay_balance_reports WHERE status = 'SUCCESS' AND due_at <= $1 ORDER BY due_at
          LIMIT 100`,
        [now],
      );
      for (const r of expired.rows)
        if (await db.tx((q) => transition(q, String(r.download_id), 'EXPIRED', { content: null, due_at: null })))
          done++;
      for (let i = 0; i < batch; i++) {
        const n = await generateOne();
        if (!n) break;
        done += n;
      }
      const pruned = await db.query(`DELETE FROM pay_report_files WHERE expires_at < $1`, [now - DAY_MS]);
      return done + (pruned.rowCount ?? 0);
    },

    /** The file behind a download link, or null (→ 404) for an unknown, expired or mismatched one. */
    async download(token: string, fileName: string, format: 'xlsx' | 'csv'): Promise<Download | null> {
      if (!/^[0-9a-f]{32}$/.test(token)) return null;
      const f = (await db.query(`SELECT * FROM pay_report_files WHERE token = $1`, [token])).rows[0];
      if (!f || f.file_name !== fileName || Number(f.expires_at) <= clock.now()) return null;
      const source = f.source as FileSource;
      const merchantId = String(f.merchant_id);
      let kind: DailyKind | 'Balance';
      let rows: string[][];
      if (source.kind === 'Balance') {
        const r = (
          await db.query(
            `SELECT status, content FROM pay_balance_reports WHERE download_id = $1 AND merchant_id = $2`,
            [source.downloadId, merchantId],
          )
        ).rows[0];
        if (!r || r.status !== 'SUCCESS' || !r.content) return null;
        kind = 'Balance';
        rows = r.content;
      } else {
        kind = source.kind;
        rows = await rowsOf(db, source.kind, merchantId, source.day);
      }
      const base = fileName.replace(/\.xlsx$/, '');
      if (format === 'csv')
        return { fileName: `${base}.csv`, contentType: 'text/csv; charset=utf-8', body: csv(COLUMNS[kind], rows) };
      return { fileName, contentType: XLSX_TYPE, body: xlsx(base, COLUMNS[kind], rows) };
    },
  };
}

export type StatementService = ReturnType<typeof createStatementService>;
