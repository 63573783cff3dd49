import type { PayoutReportRow } from '../statements/files.ts';
import { createHash } from 'node:crypto';
import type { AccountsService, Payer } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomString } from '../../platform/crypto.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, errorField, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { raw } from '../../platform/json.ts';
import { ifFundsSuffice, platformAccount, type Ledger } from '../../platform/ledger/service.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Mailer } from '../../platform/mail.ts';
import { Decimal, fixed } from '../../platform/money.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import type { ExtendedError } from '../codes.ts';
import { INT8_MAX } from '../validation.ts';
import { displayAmount } from '../../web/amount.ts';
import { enqueuePayWebhook, num8 } from '../events.ts';
import type { SubMerchantDirectory } from '../extension.ts';
import { featureEnabled, type Mode } from '../features.ts';
import { requestFingerprint, keyReusedMessage } from '../idempotency.ts';
import type { Actor } from '../orders/service.ts';
import { merchantAccount, type MerchantWallet } from '../wallets.ts';
import type { DetailFilter, PayoutTransfer, ReceiveType, ReceiverCheck } from './schemas.ts';

/**
 * Batch payout (binance-pay-extended.md §10) as a step machine in the shape of src/chain/withdrawals.ts: explicit
 * states, a transition table per object, one conditional update (`transition`) that is the only writer of a status,
 * and one idempotent handler per state with work, run by the `pay-payouts` worker.
 *
 * A batch (`pay_payout_batches.status` is the published batchStatus):
 *
 * | from | to | by | money, in the same transaction |
 * | --- | --- | --- | --- |
 * | (new) | ACCEPTED | the request | each detail in order: hold (source wallet → payout_escrow, amount + fee) if the
 *   available balance covers it, else the detail is marked unfunded |
 * | ACCEPTED | PROCESSING | worker (`start`) | |
 * | ACCEPTED | CANCELED | operator cancel; worker after 5 failed attempts | every open detail FAIL, its hold voided |
 * | PROCESSING | (stays) | worker (`processing`): one PROCESSING detail at a time, in order (table below) | |
 * | PROCESSING | SUCCESS, PART_SUCCESS, FAILED | worker (`finalize`), no detail PROCESSING | one PAYOUT webhook |
 * | PROCESSING | CANCELED | worker after 5 failed attempts | open details FAIL, holds voided; PAYOUT CANCELED |
 *
 * A detail (`pay_payout_details.status`, published as is):
 *
 * | from | to | when | money |
 * | --- | --- | --- | --- |
 * | PROCESSING | FAIL | unfunded | none (nothing was reserved) |
 * | PROCESSING | FAIL | recipient unknown, the merchant itself, not verified (ids), registration mismatch, cancel |
 *   hold voided (release) |
 * | PROCESSING | SUCCESS | a KYC-PASS recipient | hold posted; escrow → payer (amount), escrow → fees (fee) |
 * | PROCESSING | AWAITING_RECEIPT | e-mail without a KYC-PASS account | hold posted (amount + fee in escrow);
 *   invitation mail; deadline now + 72 h (business clock) |
 * | AWAITING_RECEIPT | SUCCESS | worker (`claim`): the e-mail now belongs to a KYC-PASS payer, before the deadline |
 *   escrow → payer (amount), escrow → fees (fee); PAYOUT_NON_BN SUCCESS |
 * | AWAITING_RECEIPT | REFUNDED | worker (`expire`): the deadline has passed | escrow → merchant source wallet
 *   (amount + fee); PAYOUT_NON_BN REFUNDED |
 *
 * Every status change is one conditional update from the state the handler read, so a replayed or concurrent run
 * changes nothing twice; each ledger movement and each event (webhook, mail) is written in the transaction of the
 * move that causes it, and a compensation (release, refund) only by the move that decides the failure.
 */
type BatchStatus = 'ACCEPTED' | 'PROCESSING' | 'SUCCESS' | 'PART_SUCCESS' | 'FAILED' | 'CANCELED';
export type DetailStatus = 'PROCESSING' | 'SUCCESS' | 'FAIL' | 'AWAITING_RECEIPT' | 'REFUNDED';

const BATCH_TRANSITIONS: Record<BatchStatus, BatchStatus[]> = {
  ACCEPTED: ['PROCESSING', 'CANCELED'],
  PROCESSING: ['SUCCESS', 'PART_SUCCESS', 'FAILED', 'CANCELED'],
  SUCCESS: [],
  PART_SUCCESS: [],
  FAILED: [],
  CANCELED: [],
};
const DETAIL_TRANSITIONS: Record<DetailStatus, DetailStatus[]> = {
  PROCESSING: ['SUCCESS', 'FAIL', 'AWAITING_RECEIPT'],
  AWAITING_RECEIPT: ['SUCCESS', 'REFUNDED'],
  SUCCESS: [],
  FAIL: [],
  REFUNDED: [],
};

const MACHINES = {
  batch: { table: 'pay_payout_batches', key: 'batch_id', transitions: BATCH_TRANSITIONS },
  detail: { table: 'pay_payout_details', key: 'order_id', transitions: DETAIL_TRANSITIONS },
} as const;
type Machine = keyof typeof MACHINES;
type StatusOf<M extends Machine> = M extends 'batch' ? BatchStatus : DetailStatus;

/** Why a detail failed (kept for the operator and the report; the wire only says FAIL). */
type FailReason =
  | 'INSUFFICIENT_FUNDS'
  | 'RECEIVER_NOT_FOUND'
  | 'RECEIVER_IS_PAYER'
  | 'RECEIVER_NOT_VERIFIED'
  | 'REGISTRATION_MISMATCH'
  | 'CANCELED';

const CLAIM_WINDOW_MS = 72 * 3_600_000;
/** A batch handler that threw is retried this much later (times the attempt), and canceled at the 5th failure. */
const MAX_ATTEMPTS = 5;
const RETRY_AFTER_ERROR_MS = 10_000;
const LEASE_MS = 30_000;
/** §10.4 guard: more than 20 `false` answers within 10 minutes blocks the merchant's checks for 10 minutes. */
const RECEIVER_CHECK_FAILS = 20;
const RECEIVER_CHECK_WINDOW_MS = 10 * 60_000;

type PayoutError = ExtendedError | 'SUB_MERCHANT_INVALID';

export interface Batch {
  batchId: string;
  merchantId: string;
  creatorMerchantId: string;
  requestId: string;
  fingerprint: string;
  batchName: string;
  bizScene: string;
  currency: string;
  totalAmount: string;
  totalNumber: number;
  webhookUrl: string | null;
  subMerchantId: string | null;
  status: BatchStatus;
  dueAt: number | null;
  attempts: number;
  createdAt: number;
  finishedAt: number | null;
}

export interface Detail {
  orderId: string;
  batchId: string;
  seq: number;
  merchantId: string;
  merchantSendId: string;
  receiveType: ReceiveType;
  receiver: string;
  transferMethod: MerchantWallet;
  amount: string;
  fee: string;
  feeCharged: string;
  remark: string | null;
  registrationEmail: string | null;
  registrationMobileNumber: string | null;
  registrationMobileCode: string | null;
  funded: boolean;
  holdId: string | null;
  status: DetailStatus;
  failReason: FailReason | null;
  payeeId: string | null;
  claimToken: string | null;
  claimDeadline: number | null;
  createdAt: number;
  finishedAt: number | null;
}

const toBatch = (r: DbRow): Batch => ({
  batchId: String(r.batch_id),
  merchantId: String(r.merchant_id),
  creatorMerchantId: String(r.creator_merchant_id),
  requestId: r.request_id,
  fingerprint: r.fingerprint,
  batchName: r.batch_name,
  bizScene: r.biz_scene,
  currency: r.currency,
  totalAmount: fixed(r.total_amount, 8),
  totalNumber: Number(r.total_number),
  webhookUrl: r.webhook_url,
  subMerchantId: r.sub_merchant_id,
  status: r.status,
  dueAt: r.due_at === null ? null : Number(r.due_at),
  attempts: Number(r.attempts),
  createdAt: Number(r.created_at),
  finishedAt: r.finished_at === null ? null : Number(r.finished_at),
});

const toDetail = (r: DbRow): Detail => ({
  orderId: String(r.order_id),
  batchId: String(r.batch_id),
  seq: Number(r.seq),
  merchantId: String(r.merchant_id),
  merchantSendId: r.merchant_send_id,
  receiveType: r.receive_type,
  receiver: r.receiver,
  transferMethod: r.transfer_method,
  amount: fixed(r.amount, 8),
  fee: fixed(r.fee, 8),
  feeCharged: fixed(r.fee_charged, 8),
  remark: r.remark,
  registrationEmail: r.registration_email,
  registrationMobileNumber: r.registration_mobile_number,
  registrationMobileCode: r.registration_mobile_code,
  funded: r.funded,
  holdId: r.hold_id,
  status: r.status,
  failReason: r.fail_reason,
  payeeId: r.payee_id === null ? null : String(r.payee_id),
  claimToken: r.claim_token,
  claimDeadline: r.claim_deadline === null ? null : Number(r.claim_deadline),
  createdAt: Number(r.created_at),
  finishedAt: r.finished_at === null ? null : Number(r.finished_at),
});

/** Query filter → detail statuses (§10.3: PROCESSING ⊇ {PROCESSING, AWAITING_RECEIPT}; FAIL ⊇ {FAIL, REFUNDED}). */
const FILTER_STATUSES: Record<Exclude<DetailFilter, 'ALL'>, DetailStatus[]> = {
  PROCESSING: ['PROCESSING', 'AWAITING_RECEIPT'],
  SUCCESS: ['SUCCESS'],
  FAIL: ['FAIL', 'REFUNDED'],
};

/**
 * The payout details of one merchant created in [from, to) (business-clock ms), oldest first: the rows of the
 * T_Payout daily file (§13.2). `fee` is the fee charged (0 unless the detail succeeded). A read of this module's own
 * tables, lent to the statements area.
 */
async function payoutReportRows(
  q: Queryable,
  merchantId: string,
  from: number,
  to: number,
): Promise<PayoutReportRow[]> {
  const rows = (
    await q.query(
      `SELECT d.*, b.request_id, b.batch_name, b.biz_scene, b.sub_merchant_id, b.currency
       FROM pay_payout_details d JOIN pay_payout_batches b ON b.batch_id = d.batch_id
       WHERE d.merchant_id = $1 AND d.created_at >= $2 AND d.created_at < $3 ORDER BY d.created_at, d.batch_id, d.seq`,
      [merchantId, from, to],
    )
  ).rows;
  return rows.map((r) => {
    const d = toDetail(r);
    return {
      createTime: d.createdAt,
      requestId: r.request_id,
      batchName: r.batch_name,
      bizScene: r.biz_scene,
      subMerchantId: r.sub_merchant_id,
      orderId: d.orderId,
      merchantSendId: d.merchantSendId,
      receiveType: d.receiveType,
      receiver: d.receiver,
      payeeId: d.payeeId,
      transferMethod: d.transferMethod,
      currency: r.currency,
      amount: d.amount,
      fee: d.feeCharged,
      status: d.status,
      remark: d.remark,
      finishTime: d.finishedAt,
    };
  });
}

interface PayoutDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  outbox: Outbox;
  accounts: AccountsService;
  mailer: Mailer;
  logger: Logger;
  subMerchants: SubMerchantDirectory;
  publicUrl: string;
  mode: Mode;
  /** The salt of PAY webhooks' openUserId (the orders module's), for the receiver check's `openUserId`. */
  openIdSalt?: string;
}

export function createPayoutService(deps: PayoutDeps) {
  const { db, clock, ids, ledger, outbox, accounts, mailer } = deps;
  const escrow = (asset: string) => platformAccount('payout_escrow', asset);
  const fees = (asset: string) => platformAccount('fees', asset);

  const loadBatch = async (q: Queryable, batchId: string) => {
    const r = (await q.query(`SELECT * FROM pay_payout_batches WHERE batch_id = $1`, [batchId])).rows[0];
    return r ? toBatch(r) : null;
  };
  const loadDetails = async (q: Queryable, batchId: string) =>
    (await q.query(`SELECT * FROM pay_payout_details WHERE batch_id = $1 ORDER BY seq`, [batchId])).rows.map(toDetail);

  /**
   * The one way a status changes, for batches and details alike: a conditional update from `from` (checked against
   * the machine's table), with extra columns and an optional extra condition on the row (`cond`, SQL with `$c` for
   * its value). Returns the updated row, or null when the row had moved on (nothing changed).
   */
  async function transition<M extends Machine>(
    q: Queryable,
    machine: M,
    id: string,
    from: StatusOf<M>,
    to: StatusOf<M>,
    o: { set?: Record<string, unknown>; cond?: { sql: string; value: unknown } } = {},
  ): Promise<DbRow | null> {
    const m = MACHINES[machine];
    if (!(m.transitions as Record<string, string[]>)[from]!.includes(to))
      throw new Error(`illegal payout ${machine} transition ${from} → ${to}`);
    const set: Record<string, unknown> = { ...(machine === 'batch' ? { updated_at: clock.now() } : {}), ...o.set };
    const cols = Object.keys(set);
    const params: unknown[] = [id, from, to, ...cols.map((c) => set[c])];
    let cond = '';
    if (o.cond) {
      params.push(o.cond.value);
      cond = ` AND ${o.cond.sql.replace('$c', `$${params.length}`)}`;
    }
    const r = await q.query(
      `UPDATE ${m.table} SET status = $3${cols.map((c, i) => `, ${c} = $${i + 4}`).join('')}
       WHERE ${m.key} = $1 AND status = $2${cond} RETURNING *`,
      params,
    );
    return r.rows[0] ?? null;
  }

  // ---- events ----

  async function webhookTarget(q: Queryable, b: Batch): Promise<string | null> {
    if (b.webhookUrl) return b.webhookUrl;
    return (await accounts.getMerchant(b.creatorMerchantId, q))?.webhookUrl ?? null;
  }

  /** PAYOUT (§10.5): once per batch, with its final status. */
  async function payoutEvent(q: Queryable, b: Batch, status: BatchStatus) {
    await enqueuePayWebhook(outbox, q, {
      url: await webhookTarget(q, b),
      ownerId: b.creatorMerchantId,
      bizType: 'PAYOUT',
      bizId: b.batchId,
      bizStatus: status,
      data: {
        batchStatus: status,
        currency: b.currency,
        merchantId: raw(b.merchantId),
        requestId: b.requestId,
        totalAmount: num8(b.totalAmount),
        totalNumber: b.totalNumber,
      },
    });
  }

  /** PAYOUT_NON_BN (§10.6): an e-mail recipient's final outcome; bizId is the detail's orderId. */
  async function nonBinanceEvent(q: Queryable, b: Batch, d: Detail, status: 'SUCCESS' | 'REFUNDED') {
    await enqueuePayWebhook(outbox, q, {
      url: await webhookTarget(q, b),
      ownerId: b.creatorMerchantId,
      bizType: 'PAYOUT_NON_BN',
      bizId: d.orderId,
      bizStatus: status,
      data: {
        merchantSendId: d.merchantSendId,
        orderId: d.orderId,
        batchId: b.batchId,
        status,
        currency: b.currency,
        amount: num8(d.amount),
        receiveType: d.receiveType,
        receiver: d.receiver,
      },
    });
  }

  const claimUrl = (token: string) => `${deps.publicUrl}/payouts/claim/${token}`;

  async function invitation(q: Queryable, b: Batch, d: Detail, token: string, deadline: number) {
    const merchant = await accounts.getMerchant(b.merchantId, q);
    const from = merchant?.name ?? `merchant ${b.merchantId}`;
    await mailer.send(q, {
      to: d.receiver,
      subject: `${from} sent you ${displayAmount(d.amount, b.currency)}`,
      text: [
        `${from} has sent you ${displayAmount(d.amount, b.currency)} through Rampart Pay.`,
        '',
        `To receive it, create a Rampart wallet with this e-mail address (${d.receiver}) and complete identity`,
        `verification before ${new Date(deadline).toISOString().replace('T', ' ').slice(0, 16)} UTC.`,
        'The funds are credited to your funding wallet as soon as you are verified.',
        'After that time the payment is returned to the sender.',
        '',
        `Details: ${claimUrl(token)}`,
      ].join('\n'),
    });
  }

  // ---- accept (the request's transaction) ----

  /** The §9.4 fingerprint over the normalized request: amounts as canonical decimals, defaults applied. */
  function fingerprintOf(input: PayoutTransfer): string {
    const n = (v: string) => new Decimal(v).toFixed();
    return requestFingerprint({
      ...input,
      bizScene: input.bizScene ?? 'DIRECT_TRANSFER',
      totalAmount: n(input.totalAmount),
      totalNumber: Number(input.totalNumber),
      webhookUrl: input.webhookUrl ?? null,
      subMerchantId: input.subMerchantId ?? null,
      // An e-mail is stored and matched in lower case (receiver, registrationEmail): its case is spelling, not a
      // parameter. Likewise the + of a calling code.
      transferDetailList: input.transferDetailList.map((d) => ({
        ...d,
        receiver: d.receiveType === 'EMAIL' ? d.receiver.toLowerCase() : d.receiver,
        transferAmount: n(d.transferAmount),
        remark: d.remark ?? null,
        registrationEmail: d.registrationEmail ? d.registrationEmail.toLowerCase() : null,
        registrationMobileNumber: d.registrationMobileNumber ?? null,
        // A calling code is digits (§10.1, "971"); a leading + is how it is written, not another code.
        registrationMobileCode: d.registrationMobileCode ? d.registrationMobileCode.replace(/^\+/, '') : null,
      })),
    });
  }

  type Accepted = { requestId: string; status: 'ACCEPTED'; batchId: string; duplicate: boolean };

  async function accept(
    actor: Actor,
    input: PayoutTransfer,
    fingerprint: string,
  ): Promise<Result<Accepted, PayoutError>> {
    const merchantId = actor.merchantId;
    return db.tx(async (q) => {
      // §10.1 order after fields and gates: requestId replay, subMerchantId, totals, accept.
      const used = (
        await q.query(
          `SELECT batch_id, fingerprint FROM pay_payout_batches WHERE merchant_id = $1 AND request_id = $2`,
          [merchantId, input.requestId],
        )
      ).rows[0];
      if (used) {
        if (used.fingerprint !== fingerprint)
          return err('REQUEST_KEY_REUSED', keyReusedMessage('requestId', input.requestId));
        return ok({ requestId: input.requestId, status: 'ACCEPTED', batchId: String(used.batch_id), duplicate: true });
      }
      const merchant = await accounts.getMerchant(merchantId, q);
      if (!merchant) throw new Error(`merchant ${merchantId} vanished`);
      // Channel partners only (§10.1, 2025-02), and the caller's own ACTIVE one; an id beyond int8 names no
      // sub-merchant and is never handed to a bigint column.
      if (
        input.subMerchantId &&
        (!featureEnabled(merchant, 'channelPartner', deps.mode) ||
          BigInt(input.subMerchantId) > INT8_MAX ||
          !(await deps.subMerchants.isActive(q, merchantId, input.subMerchantId)))
      )
        return err('SUB_MERCHANT_INVALID', 'Sub-merchant does not exist or is unavailable.');
      const sum = input.transferDetailList.reduce((s, d) => s.plus(d.transferAmount), new Decimal(0));
      if (!sum.eq(input.totalAmount))
        return err('BUSINESS_RULE', `totalAmount: must equal the sum of transferAmount (${sum.toFixed()})`);
      if (Number(input.totalNumber) !== input.transferDetailList.length)
        return err(
          'BUSINESS_RULE',
          `totalNumber: must equal the number of transferDetailList items (${input.transferDetailList.length})`,
        );

      const fee = new Decimal(merchant.payoutFee[input.currency] ?? '0');
      const now = clock.now();
      const batchId = String(ids.next());
      await q.query(
        `INSERT INTO pay_payout_batches (batch_id, merchant_id, creator_merchant_id, request_id, fingerprint,
          batch_name,
           biz_scene, currency, total_amount, total_number, webhook_url, sub_merchant_id, status, due_at, created_at,
           updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'ACCEPTED', $13, $13, $13)`,
        [
          batchId,
          merchantId,
          actor.creatorMerchantId,
          input.requestId,
          fingerprint,
          input.batchName,
          input.bizScene ?? 'DIRECT_TRANSFER',
          input.currency,
          input.totalAmount,
          input.transferDetailList.length,
          input.webhookUrl ?? null,
          input.subMerchantId ?? null,
          now,
        ],
      );
      const cols = 17;
      const values: unknown[] = [];
      const tuples: string[] = [];
      // Per source wallet: once one hold on it succeeded, this transaction holds its ledger row (the conditional
      // update's lock) until commit, so its available balance, read once, stays exact and the next details are
      // decided against it without another attempt.
      const locked = new Map<MerchantWallet, Decimal>();
      for (const [seq, d] of input.transferDetailList.entries()) {
        const orderId = String(ids.next());
        const holdId = `payout:${orderId}`;
        const need = new Decimal(d.transferAmount).plus(fee);
        const source = merchantAccount(merchantId, d.transferMethod, input.currency);
        const hold = {
          id: holdId,
          debit: source,
          credit: escrow(input.currency),
          amount: need.toFixed(),
          kind: 'pay.payout',
          ref: orderId,
        };
        // Reserve if the source wallet covers amount + fee, checked by the ledger's conditional update in this
        // transaction; a shortfall undoes only this detail's attempt (savepoint) and marks it unfunded.
        let funded: boolean;
        const available = locked.get(d.transferMethod);
        if (available === undefined) {
          funded = await reserve(q, hold);
          if (funded) locked.set(d.transferMethod, new Decimal((await ledger.balance(q, source)).available));
        } else if (available.gte(need)) {
          await ledger.hold(q, hold);
          locked.set(d.transferMethod, available.minus(need));
          funded = true;
        } else funded = false;
        const b = tuples.length * cols;
        tuples.push(`(${Array.from({ length: cols }, (_, i) => `$${b + i + 1}`).join(', ')}, 'PROCESSING')`);
        values.push(
          orderId,
          batchId,
          seq,
          merchantId,
          d.merchantSendId,
          d.receiveType,
          d.receiveType === 'EMAIL' ? d.receiver.toLowerCase() : d.receiver,
          d.transferMethod,
          d.transferAmount,
          fee.toFixed(),
          d.remark ?? null,
          d.registrationEmail ?? null,
          d.registrationMobileNumber ?? null,
          d.registrationMobileCode ?? null,
          funded,
          funded ? holdId : null,
          now,
        );
      }
      await q.query(
        `INSERT INTO pay_payout_details (order_id, batch_id, seq, merchant_id, merchant_send_id, receive_type, receiver,
           transfer_method, amount, fee, remark, registration_email, registration_mobile_number,
           registration_mobile_code, funded, hold_id, created_at, status)
         VALUES ${tuples.join(', ')}`,
        values,
      );
      return ok({ requestId: input.requestId, status: 'ACCEPTED', batchId, duplicate: false });
    });
  }

  /** A hold that either is made or leaves no trace: true when reserved, false on a shortfall. */
  const reserve = (q: Queryable, t: Parameters<Ledger['hold']>[1]) => ifFundsSuffice(q, () => ledger.hold(q, t));

  // ---- the batch handlers ----

  type Outcome = 'moved' | 'wait';

  /** ACCEPTED: start processing. */
  async function start(b: Batch): Promise<Outcome> {
    await transition(db, 'batch', b.batchId, 'ACCEPTED', 'PROCESSING');
    return 'moved';
  }

  /** PROCESSING: the first PROCESSING detail, or the batch's final status once none is left. */
  async function processing(b: Batch): Promise<Outcome> {
    const next = (
      await db.query(
        `SELECT * FROM pay_payout_details WHERE batch_id = $1 AND status = 'PROCESSING' ORDER BY seq LIMIT 1`,
        [b.batchId],
      )
    ).rows[0];
    if (next) {
      await db.tx((q) => processDetail(q, b, toDetail(next)));
      return 'moved';
    }
    return finalize(b);
  }

  async function fail(q: Queryable, d: Detail, reason: FailReason) {
    const moved = await transition(q, 'detail', d.orderId, 'PROCESSING', 'FAIL', {
      set: { fail_reason: reason, finished_at: clock.now() },
    });
    // The release belongs to the move that decides the failure, and happens only if it moved.
    if (moved && d.funded) await ledger.voidHold(q, d.holdId!);
    return moved;
  }

  /**
   * The registration data a detail asks for, against the recipient's. Payers have no phone number in Rampart, so a
   * detail that gives one cannot match (Decision, §10.1: it FAILs rather than being paid unchecked).
   */
  function registrationMatches(d: Detail, email: string): boolean {
    if (d.registrationEmail && d.registrationEmail.toLowerCase() !== email.toLowerCase()) return false;
    if (d.registrationMobileNumber || d.registrationMobileCode) return false;
    return true;
  }

  /** Settles a reserved detail to a verified payer: hold posted, escrow → payer (amount) and → fees (fee). */
  async function pay(q: Queryable, b: Batch, d: Detail, payerId: string) {
    await ledger.transfer(q, {
      id: `payout:${d.orderId}:pay`,
      debit: escrow(b.currency),
      credit: { ownerType: 'payer', ownerId: payerId, asset: b.currency },
      amount: d.amount,
      kind: 'pay.payout.pay',
      ref: d.orderId,
    });
    if (new Decimal(d.fee).gt(0))
      await ledger.transfer(q, {
        id: `payout:${d.orderId}:fee`,
        debit: escrow(b.currency),
        credit: fees(b.currency),
        amount: d.fee,
        kind: 'pay.payout.fee',
        ref: d.orderId,
      });
  }

  async function processDetail(q: Queryable, b: Batch, d: Detail): Promise<void> {
    if (!d.funded) {
      await fail(q, d, 'INSUFFICIENT_FUNDS');
      return;
    }
    let payer: Payer | null;
    if (d.receiveType === 'EMAIL') {
      payer = await accounts.findPayerByEmail(d.receiver, q);
    } else {
      // BINANCE_ID and PAY_ID both name the payer id (§10.2). A merchant is never a payout recipient.
      if (d.receiver === b.merchantId) {
        await fail(q, d, 'RECEIVER_IS_PAYER');
        return;
      }
      payer = await accounts.getPayer(d.receiver, q);
      if (!payer) {
        await fail(q, d, 'RECEIVER_NOT_FOUND');
        return;
      }
    }
    if (!registrationMatches(d, payer?.email ?? d.receiver)) {
      await fail(q, d, 'REGISTRATION_MISMATCH');
      return;
    }
    if (payer && payer.kycStatus === 'PASS') {
      const moved = await transition(q, 'detail', d.orderId, 'PROCESSING', 'SUCCESS', {
        set: { payee_id: String(payer.payerId), fee_charged: d.fee, finished_at: clock.now() },
      });
      if (!moved) return;
      await ledger.postHold(q, d.holdId!);
      await pay(q, b, d, String(payer.payerId));
      return;
    }
    if (d.receiveType !== 'EMAIL') {
      // Decision: an id recipient must already be verified; only e-mail recipients get the claim window (§10.6).
      await fail(q, d, 'RECEIVER_NOT_VERIFIED');
      return;
    }
    const token = randomString(32);
    const deadline = clock.now() + CLAIM_WINDOW_MS;
    const moved = await transition(q, 'detail', d.orderId, 'PROCESSING', 'AWAITING_RECEIPT', {
      set: { claim_token: token, claim_deadline: deadline },
    });
    if (!moved) return;
    // amount + fee leave the merchant's wallet for the escrow now; the invitation is sent once, with this move.
    await ledger.postHold(q, d.holdId!);
    await invitation(q, b, d, token, deadline);
  }

  /** PROCESSING with no detail left: the final batch status and its one PAYOUT webhook. */
  async function finalize(b: Batch): Promise<Outcome> {
    return db.tx(async (q) => {
      const counts = (
        await q.query<{ status: DetailStatus; n: bigint }>(
          `SELECT status, count(*) AS n FROM pay_payout_details WHERE batch_id = $1 GROUP BY status`,
          [b.batchId],
        )
      ).rows;
      const n = (s: DetailStatus) => Number(counts.find((c) => c.status === s)?.n ?? 0);
      if (n('PROCESSING') > 0) return 'moved';
      const final: BatchStatus =
        n('SUCCESS') === b.totalNumber ? 'SUCCESS' : n('FAIL') === b.totalNumber ? 'FAILED' : 'PART_SUCCESS';
      const moved = await transition(q, 'batch', b.batchId, 'PROCESSING', final, {
        set: { due_at: null, finished_at: clock.now() },
      });
      if (moved) await payoutEvent(q, b, final);
      return 'wait';
    });
  }

  /**
   * ACCEPTED → CANCELED (operator) or ACCEPTED/PROCESSING → CANCELED (5 failed attempts): every open detail FAIL with
   * its reservation released, in the transaction of the batch's move; one PAYOUT CANCELED.
   */
  async function cancelFrom(q: Queryable, b: Batch, from: 'ACCEPTED' | 'PROCESSING', lastError?: string) {
    const moved = await transition(q, 'batch', b.batchId, from, 'CANCELED', {
      set: { due_at: null, finished_at: clock.now(), ...(lastError ? { last_error: lastError.slice(0, 500) } : {}) },
    });
    if (!moved) return null;
    for (const d of await loadDetails(q, b.batchId)) if (d.status === 'PROCESSING') await fail(q, d, 'CANCELED');
    await payoutEvent(q, b, 'CANCELED');
    return toBatch(moved);
  }

  const HANDLERS: Partial<Record<BatchStatus, (b: Batch) => Promise<Outcome>>> = {
    ACCEPTED: start,
    PROCESSING: processing,
  };

  /**
   * Renews the caller's lease on a batch, only if it still holds it (`lease.until` is the value it last wrote): true
   * when renewed. A lease that lapsed and was taken by another worker is theirs; this one stops driving the batch.
   */
  async function renewLease(batchId: string, lease: { until: number }): Promise<boolean> {
    const until = Math.max(Date.now() + LEASE_MS, lease.until + 1);
    const r = await db.query(
      `UPDATE pay_payout_batches SET lease_until = $3 WHERE batch_id = $1 AND lease_until = $2 RETURNING batch_id`,
      [batchId, lease.until, until],
    );
    if (r.rows.length === 0) return false;
    lease.until = until;
    return true;
  }

  /**
   * Runs a batch's handlers until it waits, while the caller holds its lease (renewed before each step; a lease lost
   * to another worker ends the run); a batch has at most 500 details.
   */
  async function drive(batchId: string, lease: { until: number }) {
    for (let i = 0; i < 2 * 500 + 4; i++) {
      if (!(await renewLease(batchId, lease))) return;
      const b = await loadBatch(db, batchId);
      const handler = b && HANDLERS[b.status];
      if (!b || !handler || b.dueAt === null || b.dueAt > clock.now()) return;
      try {
        if ((await handler(b)) === 'wait') return;
      } catch (e) {
        const attempts = b.attempts + 1;
        const message = e instanceof Error ? e.message : String(e);
        deps.logger.error({ err: e, batchId, status: b.status, attempts }, 'payout step failed');
        if (attempts >= MAX_ATTEMPTS) {
          await db.tx((q) => cancelFrom(q, b, b.status as 'ACCEPTED' | 'PROCESSING', message));
          return;
        }
        await db.query(
          `UPDATE pay_payout_batches SET attempts = $3, last_error = $4, due_at = $5 WHERE batch_id = $1
            AND status = $2`,
          [batchId, b.status, attempts, message.slice(0, 500), clock.now() + RETRY_AFTER_ERROR_MS * attempts],
        );
        return;
      }
    }
  }

  /**
   * Worker tick, part 1: claims due batches (SKIP LOCKED, then a wall-clock lease) and drives each. The lease is
   * released only by its holder: a worker whose lease lapsed and was taken over leaves the new holder's alone.
   */
  async function runBatches(limit = 10): Promise<number> {
    const wall = Date.now();
    const due = (
      await db.query<{ batch_id: bigint; lease_until: bigint }>(
        `UPDATE pay_payout_batches SET lease_until = $3 WHERE batch_id IN (
           SELECT batch_id FROM pay_payout_batches WHERE due_at <= $1 AND lease_until < $2
           ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING batch_id, lease_until`,
        [clock.now(), wall, wall + LEASE_MS, limit],
      )
    ).rows;
    for (const { batch_id, lease_until } of due) {
      const lease = { until: Number(lease_until) };
      try {
        await drive(String(batch_id), lease);
      } finally {
        await db.query(`UPDATE pay_payout_batches SET lease_until = 0 WHERE batch_id = $1 AND lease_until = $2`, [
          batch_id,
          lease.until,
        ]);
      }
    }
    return due.length;
  }

  // ---- AWAITING_RECEIPT: claim and expiry ----

  /**
   * AWAITING_RECEIPT → SUCCESS: the e-mail belongs to a KYC-PASS payer now, before the deadline. The tick found the
   * payer outside this transaction; the recipient is read again here, in the transaction that pays them, so a KYC
   * withdrawn (or an e-mail that changed hands) in between is never paid.
   */
  async function claim(d: Detail, payerId: string): Promise<boolean> {
    return db.tx(async (q) => {
      const payer = await accounts.findPayerByEmail(d.receiver, q);
      if (!payer || payer.kycStatus !== 'PASS' || String(payer.payerId) !== payerId) return false;
      const b = (await loadBatch(q, d.batchId))!;
      const now = clock.now();
      const moved = await transition(q, 'detail', d.orderId, 'AWAITING_RECEIPT', 'SUCCESS', {
        set: { payee_id: payerId, fee_charged: d.fee, finished_at: now },
        cond: { sql: 'claim_deadline > $c', value: now },
      });
      if (!moved) return false;
      await pay(q, b, d, payerId);
      await nonBinanceEvent(q, b, d, 'SUCCESS');
      return true;
    });
  }

  /** AWAITING_RECEIPT → REFUNDED: the 72 h are over; amount + fee back to the merchant's source wallet, no fee. */
  async function expire(d: Detail): Promise<boolean> {
    return db.tx(async (q) => {
      const b = (await loadBatch(q, d.batchId))!;
      const now = clock.now();
      const moved = await transition(q, 'detail', d.orderId, 'AWAITING_RECEIPT', 'REFUNDED', {
        set: { finished_at: now },
        cond: { sql: 'claim_deadline <= $c', value: now },
      });
      if (!moved) return false;
      await ledger.transfer(q, {
        id: `payout:${d.orderId}:refund`,
        debit: escrow(b.currency),
        credit: merchantAccount(d.merchantId, d.transferMethod, b.currency),
        amount: new Decimal(d.amount).plus(d.fee).toFixed(),
        kind: 'pay.payout.refund',
        ref: d.orderId,
      });
      await nonBinanceEvent(q, b, d, 'REFUNDED');
      return true;
    });
  }

  /** One detail's claim or expiry; a failure is logged and left for the next tick, never holding up the others. */
  async function guarded(d: Detail, step: () => Promise<boolean>): Promise<number> {
    try {
      return Number(await step());
    } catch (e) {
      deps.logger.error({ err: e, orderId: d.orderId }, 'payout claim or expiry failed; retried on the next tick');
      return 0;
    }
  }

  /** Worker tick, part 2: expires what is due, and claims for e-mails that now have a verified payer. */
  async function runAwaiting(page = 500): Promise<number> {
    const now = clock.now();
    let done = 0;
    // Every AWAITING_RECEIPT detail is looked at on each tick, a page at a time in claim-deadline order (keyset), so
    // a recipient who registers is credited within a tick however many others are still waiting.
    let after: { deadline: number; orderId: string } | null = null;
    for (;;) {
      const rows: Detail[] = (
        await db.query(
          `SELECT * FROM pay_payout_details WHERE status = 'AWAITING_RECEIPT'
             AND ($1::bigint IS NULL OR (claim_deadline, order_id) > ($1::bigint, $2::bigint))
           ORDER BY claim_deadline, order_id LIMIT $3`,
          [after?.deadline ?? null, after?.orderId ?? null, page],
        )
      ).rows.map(toDetail);
      const open: Detail[] = [];
      for (const d of rows) {
        if (d.claimDeadline! <= now) done += await guarded(d, () => expire(d));
        else open.push(d);
      }
      const verified = await accounts.verifiedPayersByEmail([...new Set(open.map((d) => d.receiver))]);
      for (const d of open) {
        const payerId = verified.get(d.receiver);
        if (payerId !== undefined) done += await guarded(d, () => claim(d, String(payerId)));
      }
      const last = rows[rows.length - 1];
      if (rows.length < page || !last) return done;
      after = { deadline: last.claimDeadline!, orderId: last.orderId };
    }
  }

  // ---- the receiver check's guard (§10.4) ----

  async function receiverCheck(merchantId: string, input: ReceiverCheck): Promise<Result<boolean, PayoutError>> {
    const now = clock.now();
    const blocked = (
      await db.query(`SELECT 1 FROM pay_payout_receiver_blocks WHERE merchant_id = $1 AND blocked_until > $2`, [
        merchantId,
        now,
      ])
    ).rows[0];
    if (blocked) return err('RECEIVER_CHECK_RATE', 'Fail rate is high, please try again later');
    const payer = await accounts.getPayer(input.receiverId);
    let match = payer !== null;
    if (payer && input.registrationEmail && input.registrationEmail.toLowerCase() !== payer.email) match = false;
    // Payers have no phone number: a phone never matches (as for a detail's registrationMobile*).
    if (input.registrationMobileNumber || input.registrationMobileCode) match = false;
    if (payer && input.openUserId) {
      const seen = deps.openIdSalt
        ? createHash('sha256')
            .update(`${deps.openIdSalt}:${String(payer.payerId)}:${merchantId}`)
            .digest('hex')
            .slice(0, 32)
        : null;
      if (seen !== input.openUserId) match = false;
    }
    if (match) return ok(true);
    await db.tx(async (q) => {
      await q.query(`INSERT INTO pay_payout_receiver_fails (merchant_id, at) VALUES ($1, $2)`, [merchantId, now]);
      await q.query(`DELETE FROM pay_payout_receiver_fails WHERE merchant_id = $1 AND at <= $2`, [
        merchantId,
        now - RECEIVER_CHECK_WINDOW_MS,
      ]);
      const n = Number(
        (
          await q.query(`SELECT count(*) AS n FROM pay_payout_receiver_fails WHERE merchant_id = $1 AND at > $2`, [
            merchantId,
            now - RECEIVER_CHECK_WINDOW_MS,
          ])
        ).rows[0].n,
      );
      if (n > RECEIVER_CHECK_FAILS)
        await q.query(
          `INSERT INTO pay_payout_receiver_blocks (merchant_id, blocked_until) VALUES ($1, $2)
           ON CONFLICT (merchant_id) DO UPDATE SET blocked_until = EXCLUDED.blocked_until`,
          [merchantId, now + RECEIVER_CHECK_WINDOW_MS],
        );
    });
    return ok(false);
  }

  return {
    /**
     * POST /payout/transfer after the field rules and gates: replay, subMerchantId, totals, then the batch with its
     * reservations. A unique-key race between two first uses of one requestId is retried once and replays the winner.
     */
    async transfer(actor: Actor, input: PayoutTransfer): Promise<Result<Accepted, PayoutError>> {
      const fingerprint = fingerprintOf(input);
      for (let attempt = 0; ; attempt++) {
        try {
          return await accept(actor, input, fingerprint);
        } catch (e) {
          if (errorField(e, 'code') === '23505' && attempt === 0) continue;
          throw e;
        }
      }
    },

    /** POST /payout/query. */
    async query(
      merchantId: string,
      requestId: string,
      filter: DetailFilter[] | null | undefined,
    ): Promise<Result<{ batch: Batch; details: Detail[]; paid: string; fees: string }, PayoutError>> {
      const r = (
        await db.query(`SELECT * FROM pay_payout_batches WHERE merchant_id = $1 AND request_id = $2`, [
          merchantId,
          requestId,
        ])
      ).rows[0];
      if (!r) return err('PAYOUT_NOT_FOUND', 'Payout not found.');
      const batch = toBatch(r);
      const all = await loadDetails(db, batch.batchId);
      const paid = all.filter((d) => d.status === 'SUCCESS').reduce((s, d) => s.plus(d.amount), new Decimal(0));
      const charged = all.reduce((s, d) => s.plus(d.feeCharged), new Decimal(0));
      const wanted =
        !filter || filter.length === 0 || filter.includes('ALL')
          ? null
          : new Set(filter.flatMap((f) => FILTER_STATUSES[f as Exclude<DetailFilter, 'ALL'>]));
      const details = wanted ? all.filter((d) => wanted.has(d.status)) : all;
      return ok({ batch, details, paid: paid.toFixed(8), fees: charged.toFixed(8) });
    },

    receiverCheck,

    /** The merchant's latest batches, newest first (the dashboard's payouts page). */
    async recent(merchantId: string, limit = 20): Promise<Batch[]> {
      const rows = (
        await db.query(
          `SELECT * FROM pay_payout_batches WHERE merchant_id = $1 ORDER BY created_at DESC, batch_id DESC LIMIT $2`,
          [merchantId, limit],
        )
      ).rows;
      return rows.map(toBatch);
    },

    /** POST /admin/v1/payouts/{batchId}/cancel: only an ACCEPTED batch. */
    async cancel(batchId: string): Promise<Result<Batch, 'PAYOUT_NOT_FOUND' | 'NOT_CANCELABLE'>> {
      if (!/^\d{1,19}$/.test(batchId) || BigInt(batchId) > INT8_MAX)
        return err('PAYOUT_NOT_FOUND', 'Payout not found.');
      return db.tx(async (q) => {
        const b = await loadBatch(q, batchId);
        if (!b) return err('PAYOUT_NOT_FOUND', 'Payout not found.');
        if (b.status !== 'ACCEPTED')
          return err('NOT_CANCELABLE', `Only an ACCEPTED batch can be canceled; this one is ${b.status}.`);
        const done = await cancelFrom(q, b, 'ACCEPTED');
        return done
          ? ok(done)
          : err('NOT_CANCELABLE', 'The batch left ACCEPTED while it was being canceled; it is processing.');
      });
    },

    /** The claim page's data, by the token of the invitation link. */
    async byClaimToken(token: string) {
      if (!/^[a-z0-9]{32}$/.test(token)) return null;
      const r = (await db.query(`SELECT * FROM pay_payout_details WHERE claim_token = $1`, [token])).rows[0];
      if (!r) return null;
      const detail = toDetail(r);
      const batch = (await loadBatch(db, detail.batchId))!;
      const merchant = await accounts.getMerchant(batch.merchantId);
      return { detail, batch, merchantName: merchant?.name ?? `Merchant ${batch.merchantId}` };
    },

    get: (batchId: string) => loadBatch(db, batchId),
    details: (batchId: string) => loadDetails(db, batchId),
    reportRows: (q: Queryable, merchantId: string, from: number, to: number) =>
      payoutReportRows(q, merchantId, from, to),

    /** The worker: due batches, then claims and expiries of e-mail recipients. */
    async runOnce(): Promise<number> {
      return (await runBatches()) + (await runAwaiting());
    },
    runBatches,
    runAwaiting,
  };
}

export type PayoutService = ReturnType<typeof createPayoutService>;
