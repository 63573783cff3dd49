import type { AccountsService } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { ifFundsSuffice, type AccountRef, type Ledger } from '../../platform/ledger/service.ts';
import { Decimal } from '../../platform/money.ts';
import type { PayDomainError } from '../codes.ts';
import { keyReusedMessage, requestFingerprint } from '../idempotency.ts';
import { toOrder, type Order } from '../orders/state.ts';
import type { Actor } from '../orders/service.ts';
import { orderTotals } from '../refunds/service.ts';
import { merchantAccount } from '../wallets.ts';
import type { ReturnSplit, SubmitSplit } from './schemas.ts';

/**
 * Profit sharing (binance-pay-extended.md §16). A merchant registers receivers (payers, by their Binance ID = Rampart
 * payer id), then splits part of a paid order tagged `orderTags.ifProfitSharing` to them, and may pull split money
 * back. Everything is synchronous: each split detail and each return is one ledger move between FUNDING_WALLETs, or
 * a FAIL record (`Insufficient balance`) with nothing moved.
 *
 * The order's row lock (the one refunds take) serializes splits and refunds of one order, so Σ splits ≤ the order's
 * proceeds (amount − commission − refunds done or pending) holds against concurrent requests; the split's row lock
 * does the same for returns against what was split to one account.
 */
export const MAX_RECEIVERS = 1000;
const SPLITTABLE_STATUSES = ['PAID', 'REFUNDING', 'REFUNDED'];
const INSUFFICIENT = 'Insufficient balance';

/** Split status (§16.2): 0 WAITING, 1 PROCESSING, 2 FINISHED; detail and return: 1 PROCESSING, 2 SUCCESS, 3 FAIL. */
const FINISHED = 2;
const SUCCESS = 2;
const FAIL = 3;

export type ProfitSharingError = PayDomainError;

export interface SplitDetail {
  account: string;
  amount: string;
  detailId: string;
  status: number;
  /** Unix seconds. */
  finishTime: number | null;
  failReason: string;
  description: string;
}
export interface Split {
  splitOrderNo: string;
  merchantRequestId: string;
  prepayOrderId: string;
  currency: string;
  status: number;
  createdAt: number;
  details: SplitDetail[];
}
export interface SplitReturn {
  prepayOrderId: string;
  splitOrderNo: string;
  originMerchantRequestId: string;
  merchantReturnNo: string;
  transferOutAccount: string;
  returnAmount: string;
  returnOrderNo: string;
  status: number;
  failReason: string | null;
  finishTime: number | null;
}

const norm = (v: Decimal.Value) => new Decimal(v).toFixed();
const seconds = (ms: number) => Math.floor(ms / 1000);
const payerAccount = (payerId: string, asset: string): AccountRef => ({ ownerType: 'payer', ownerId: payerId, asset });

export function createProfitSharingService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  accounts: AccountsService;
}) {
  const { db, clock, ids, ledger, accounts } = deps;

  /** One ledger move that either happens or leaves no trace: false on the debit side's shortfall. */
  const move = (q: Queryable, t: Parameters<Ledger['transfer']>[1]) => ifFundsSuffice(q, () => ledger.transfer(q, t));

  async function loadSplit(q: Queryable, row: DbRow | undefined): Promise<Split | null> {
    if (!row) return null;
    const details = (
      await q.query(`SELECT * FROM pay_ps_split_details WHERE split_order_no = $1 ORDER BY position`, [
        row.split_order_no,
      ])
    ).rows;
    return {
      splitOrderNo: String(row.split_order_no),
      merchantRequestId: row.merchant_request_id,
      prepayOrderId: String(row.prepay_id),
      currency: row.currency,
      status: Number(row.status),
      createdAt: Number(row.created_at),
      details: details.map((d) => ({
        account: String(d.account),
        amount: norm(d.amount),
        detailId: String(d.detail_id),
        status: Number(d.status),
        finishTime: d.finish_time === null ? null : seconds(Number(d.finish_time)),
        failReason: d.fail_reason,
        description: d.description,
      })),
    };
  }

  const splitByKey = async (q: Queryable, merchantId: string, merchantRequestId: string) =>
    (
      await q.query(`SELECT * FROM pay_ps_splits WHERE merchant_id = $1 AND merchant_request_id = $2`, [
        merchantId,
        merchantRequestId,
      ])
    ).rows[0];

  const returnByKey = async (q: Queryable, merchantId: string, merchantReturnNo: string) =>
    (
      await q.query(`SELECT * FROM pay_ps_returns WHERE merchant_id = $1 AND merchant_return_no = $2`, [
        merchantId,
        merchantReturnNo,
      ])
    ).rows[0];

  const toReturn = (r: DbRow, originMerchantRequestId: string): SplitReturn => ({
    prepayOrderId: String(r.prepay_id),
    splitOrderNo: String(r.split_order_no),
    originMerchantRequestId,
    merchantReturnNo: r.merchant_return_no,
    transferOutAccount: String(r.transfer_out_account),
    returnAmount: norm(r.return_amount),
    returnOrderNo: String(r.return_order_no),
    status: Number(r.status),
    failReason: r.fail_reason,
    finishTime: r.finish_time === null ? null : seconds(Number(r.finish_time)),
  });

  async function storedReturn(q: Queryable, row: DbRow): Promise<SplitReturn> {
    const split = (
      await q.query(`SELECT merchant_request_id FROM pay_ps_splits WHERE split_order_no = $1`, [row.split_order_no])
    ).rows[0];
    return toReturn(row, split?.merchant_request_id ?? '');
  }

  const registered = async (q: Queryable, merchantId: string, account: string) =>
    (await q.query(`SELECT 1 FROM pay_ps_receivers WHERE merchant_id = $1 AND account = $2`, [merchantId, account]))
      .rows.length > 0;

  /**
   * The order, locked, with its profit-sharing tag. The tag is in the order's `extra` (create order stores
   * orderTags as sent); the row lock is the orders module's own (lockOrder), taken here with the tag in one read.
   */
  async function lockOrderWithTag(q: Queryable, prepayId: string, merchantId: string) {
    const row = (
      await q.query(`SELECT * FROM pay_orders WHERE prepay_id = $1 AND merchant_id = $2 FOR UPDATE`, [
        prepayId,
        merchantId,
      ])
    ).rows[0];
    if (!row) return null;
    const tags = (row.extra as { orderTags?: { ifProfitSharing?: unknown } } | null)?.orderTags;
    return { order: toOrder(row), tagged: tags?.ifProfitSharing === true };
  }

  /** What may still be split from an order (§16.2): its proceeds less refunds and earlier non-failed splits. */
  async function splittable(q: Queryable, order: Order): Promise<Decimal> {
    const refunds = await orderTotals(q, order.prepayId);
    const split = (
      await q.query<{ total: string | null }>(
        `SELECT sum(d.amount) AS total FROM pay_ps_split_details d JOIN pay_ps_splits s USING (split_order_no)
          WHERE s.prepay_id = $1 AND d.status <> $2`,
        [order.prepayId, FAIL],
      )
    ).rows[0]!.total;
    return new Decimal(order.orderAmount)
      .minus(order.commission ?? 0)
      .minus(refunds.succeeded)
      .minus(refunds.pending)
      .minus(split ?? 0);
  }

  return {
    // ---- §16.1 receivers ----

    async addReceiver(actor: Actor, account: string): Promise<Result<{ account: string }, ProfitSharingError>> {
      if (account === actor.merchantId) return err('BUSINESS_RULE', 'A merchant cannot be its own receiver.');
      const payer = await accounts.getPayer(account);
      if (!payer) return err('ACCOUNT_NOT_FOUND');
      return db.tx(async (q) => {
        // One merchant's adds one at a time, so the count below holds when the row goes in.
        await q.query(`SELECT pg_advisory_xact_lock(hashtext('pay_ps_receivers:' || $1::text))`, [actor.merchantId]);
        if (await registered(q, actor.merchantId, account)) return ok({ account });
        const n = Number(
          (await q.query(`SELECT count(*) AS n FROM pay_ps_receivers WHERE merchant_id = $1`, [actor.merchantId]))
            .rows[0]!.n,
        );
        if (n >= MAX_RECEIVERS) return err('BUSINESS_RULE', `At most ${MAX_RECEIVERS} receivers.`);
        await q.query(`INSERT INTO pay_ps_receivers (merchant_id, account, created_at) VALUES ($1, $2, $3)`, [
          actor.merchantId,
          account,
          clock.now(),
        ]);
        return ok({ account });
      });
    },

    async queryReceivers(merchantId: string, pageNum: number, pageSize: number) {
      const total = Number(
        (await db.query(`SELECT count(*) AS n FROM pay_ps_receivers WHERE merchant_id = $1`, [merchantId])).rows[0]!.n,
      );
      const rows = (
        await db.query(`SELECT account FROM pay_ps_receivers WHERE merchant_id = $1 ORDER BY id LIMIT $2 OFFSET $3`, [
          merchantId,
          pageSize,
          (pageNum - 1) * pageSize,
        ])
      ).rows;
      return {
        accountList: rows.map((r) => String(r.account)),
        totalPageNum: Math.ceil(total / pageSize),
        totalRecordNum: total,
        currentPageNum: pageNum,
        currentPageSize: pageSize,
      };
    },

    async delReceiver(merchantId: string, account: string): Promise<Result<{ account: string }, ProfitSharingError>> {
      const r = await db.query(`DELETE FROM pay_ps_receivers WHERE merchant_id = $1 AND account = $2`, [
        merchantId,
        account,
      ]);
      return r.rowCount ? ok({ account }) : err('BUSINESS_RULE', `account ${account} is not a registered receiver.`);
    },

    // ---- §16.2 split, §16.3 query ----

    async submitSplit(actor: Actor, input: SubmitSplit): Promise<Result<Split, ProfitSharingError>> {
      const merchantId = actor.merchantId;
      const fingerprint = requestFingerprint({
        prepayOrderId: input.prepayOrderId,
        receiverList: input.receiverList.map((r) => ({
          account: r.account,
          amount: norm(r.amount),
          description: r.description,
          webhookUrl: r.webhookUrl ?? null,
        })),
      });
      const replay = async (row: DbRow): Promise<Result<Split, ProfitSharingError>> =>
        row.fingerprint === fingerprint
          ? ok((await loadSplit(db, row))!)
          : err('REQUEST_KEY_REUSED', keyReusedMessage('merchantRequestId', input.merchantRequestId));

      const existing = await splitByKey(db, merchantId, input.merchantRequestId);
      if (existing) return replay(existing);
      const outcome = await db.tx(async (q): Promise<Result<Split, ProfitSharingError> | 'TWIN'> => {
        const locked = await lockOrderWithTag(q, input.prepayOrderId, merchantId);
        if (!locked) return err('ORDER_NOT_FOUND');
        const { order, tagged } = locked;
        if (await splitByKey(q, merchantId, input.merchantRequestId)) return 'TWIN';
        if (!tagged) return err('BUSINESS_RULE', 'Order is not tagged for profit sharing.');
        if (!SPLITTABLE_STATUSES.includes(order.status)) return err('INVALID_ORDER_STATUS');
        for (const [i, r] of input.receiverList.entries()) {
          if (!(await registered(q, merchantId, r.account)))
            return err('BUSINESS_RULE', `receiverList[${i}].account ${r.account} is not a registered receiver.`);
        }
        const total = input.receiverList.reduce((s, r) => s.plus(r.amount), new Decimal(0));
        if (total.gt(await splittable(q, order)))
          return err('BUSINESS_RULE', 'Split amount exceeds the splittable amount.');

        const splitOrderNo = String(ids.next());
        const now = clock.now();
        const inserted = await q.query(
          `INSERT INTO pay_ps_splits (split_order_no, merchant_id, creator_merchant_id, merchant_request_id, fingerprint,
            prepay_id, currency, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (merchant_id, merchant_request_id) DO NOTHING`,
          [
            splitOrderNo,
            merchantId,
            actor.creatorMerchantId,
            input.merchantRequestId,
            fingerprint,
            order.prepayId,
            order.currency,
            FINISHED,
            now,
          ],
        );
        // The same key for another order, committed meanwhile: that split answers this request.
        if (inserted.rowCount === 0) return 'TWIN';
        for (const [i, r] of input.receiverList.entries()) {
          const detailId = String(ids.next());
          // In request order: each detail is paid while the merchant's funding wallet covers it.
          const moved = await move(q, {
            id: `pay.split:${detailId}`,
            debit: merchantAccount(merchantId, 'FUNDING_WALLET', order.currency),
            credit: payerAccount(r.account, order.currency),
            amount: r.amount,
            kind: 'pay.profit_split',
            ref: splitOrderNo,
          });
          await q.query(
            `INSERT INTO pay_ps_split_details (detail_id, split_order_no, position, account, amount, description,
              webhook_url, status, fail_reason, finish_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
            [
              detailId,
              splitOrderNo,
              i,
              r.account,
              r.amount,
              r.description,
              r.webhookUrl ?? null,
              moved ? SUCCESS : FAIL,
              moved ? '' : INSUFFICIENT,
              now,
            ],
          );
        }
        return ok((await loadSplit(q, (await splitByKey(q, merchantId, input.merchantRequestId))!))!);
      });
      if (outcome !== 'TWIN') return outcome;
      return replay((await splitByKey(db, merchantId, input.merchantRequestId))!);
    },

    async querySplit(
      merchantId: string,
      merchantRequestId: string,
      prepayOrderId: string,
    ): Promise<Result<Split, ProfitSharingError>> {
      const row = await splitByKey(db, merchantId, merchantRequestId);
      if (!row || String(row.prepay_id) !== prepayOrderId) return err('SPLIT_NOT_FOUND', 'Split order not found.');
      return ok((await loadSplit(db, row))!);
    },

    // ---- §16.4 return ----

    async returnSplit(actor: Actor, input: ReturnSplit): Promise<Result<SplitReturn, ProfitSharingError>> {
      const merchantId = actor.merchantId;
      const fingerprint = requestFingerprint({
        prepayOrderId: input.prepayOrderId,
        splitOrderNo: input.splitOrderNo ?? null,
        originMerchantRequestId: input.originMerchantRequestId ?? null,
        transferOutAccount: input.transferOutAccount,
        returnAmount: norm(input.returnAmount),
        description: input.description ?? null,
        webhookUrl: input.webhookUrl ?? null,
      });
      const replay = async (row: DbRow): Promise<Result<SplitReturn, ProfitSharingError>> =>
        row.fingerprint === fingerprint
          ? ok(await storedReturn(db, row))
          : err('REQUEST_KEY_REUSED', keyReusedMessage('merchantReturnNo', input.merchantReturnNo));

      const existing = await returnByKey(db, merchantId, input.merchantReturnNo);
      if (existing) return replay(existing);
      const outcome = await db
        .tx(async (q): Promise<Result<SplitReturn, ProfitSharingError> | 'TWIN'> => {
          // The split, locked: returns from one split go one at a time, so what is left to return cannot change.
          const split = (
            await q.query(
              `SELECT * FROM pay_ps_splits WHERE merchant_id = $1 AND prepay_id = $2
              AND ($3::bigint IS NULL OR split_order_no = $3) AND ($4::text IS NULL OR merchant_request_id = $4)
              FOR UPDATE`,
              [merchantId, input.prepayOrderId, input.splitOrderNo ?? null, input.originMerchantRequestId ?? null],
            )
          ).rows[0];
          if (!split) return err('SPLIT_NOT_FOUND', 'Split order not found.');
          if (await returnByKey(q, merchantId, input.merchantReturnNo)) return 'TWIN';
          const left = (
            await q.query<{ split: string | null; returned: string | null }>(
              `SELECT (SELECT sum(amount) FROM pay_ps_split_details WHERE split_order_no = $1 AND account = $2
                AND status = $3) AS split,
              (SELECT sum(return_amount) FROM pay_ps_returns WHERE split_order_no = $1 AND transfer_out_account = $2
                AND status = $3) AS returned`,
              [split.split_order_no, input.transferOutAccount, SUCCESS],
            )
          ).rows[0]!;
          const returnable = new Decimal(left.split ?? 0).minus(left.returned ?? 0);
          if (new Decimal(input.returnAmount).gt(returnable))
            return err('BUSINESS_RULE', 'returnAmount exceeds what is left of the split to transferOutAccount.');

          const returnOrderNo = String(ids.next());
          const moved = await move(q, {
            id: `pay.split_return:${returnOrderNo}`,
            debit: payerAccount(input.transferOutAccount, split.currency),
            credit: merchantAccount(merchantId, 'FUNDING_WALLET', split.currency),
            amount: input.returnAmount,
            kind: 'pay.profit_split_return',
            ref: String(split.split_order_no),
          });
          const now = clock.now();
          const row = (
            await q.query(
              `INSERT INTO pay_ps_returns (return_order_no, merchant_id, merchant_return_no, fingerprint, prepay_id,
              split_order_no, transfer_out_account, return_amount, description, webhook_url, status, fail_reason,
              finish_time, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
             ON CONFLICT (merchant_id, merchant_return_no) DO NOTHING RETURNING *`,
              [
                returnOrderNo,
                merchantId,
                input.merchantReturnNo,
                fingerprint,
                input.prepayOrderId,
                split.split_order_no,
                input.transferOutAccount,
                input.returnAmount,
                input.description ?? null,
                input.webhookUrl ?? null,
                moved ? SUCCESS : FAIL,
                moved ? null : INSUFFICIENT,
                now,
              ],
            )
          ).rows[0];
          // The same key used on another split meanwhile: undo this one's move, that return answers.
          if (!row) throw new TwinCommitted();
          return ok(toReturn(row, split.merchant_request_id));
        })
        .catch((e) => {
          if (e instanceof TwinCommitted) return 'TWIN' as const;
          throw e;
        });
      if (outcome !== 'TWIN') return outcome;
      return replay((await returnByKey(db, merchantId, input.merchantReturnNo))!);
    },

    // ---- the dashboard ----

    async receivers(merchantId: string, limit = 100): Promise<{ account: string; createdAt: number }[]> {
      return (
        await db.query(`SELECT account, created_at FROM pay_ps_receivers WHERE merchant_id = $1 ORDER BY id LIMIT $2`, [
          merchantId,
          limit,
        ])
      ).rows.map((r) => ({ account: String(r.account), createdAt: Number(r.created_at) }));
    },

    async recentSplits(merchantId: string, limit = 20): Promise<Split[]> {
      const rows = (
        await db.query(
          `SELECT * FROM pay_ps_splits WHERE merchant_id = $1 ORDER BY created_at DESC, split_order_no DESC LIMIT $2`,
          [merchantId, limit],
        )
      ).rows;
      return Promise.all(rows.map(async (r) => (await loadSplit(db, r))!));
    },
  };
}

/** Rolls a return's transaction back when a twin with the same key committed first. */
class TwinCommitted extends Error {}

export type ProfitSharingService = ReturnType<typeof createProfitSharingService>;
