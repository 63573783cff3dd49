import { createHash } from 'node:crypto';
import type { AccountsService } from '../../accounts/service.ts';
import type { Clock } from '../../platform/clock.ts';
import { randomAlnum } from '../../platform/crypto.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import { raw } from '../../platform/json.ts';
import type { Mailer } from '../../platform/mail.ts';
import { Decimal, fixed } from '../../platform/money.ts';
import type { Outbox } from '../../platform/outbox/service.ts';
import type { PriceSource } from '../../prices/service.ts';
import type { ExtendedError } from '../codes.ts';
import { enqueuePayWebhook, num8 } from '../events.ts';
import type { SubMerchantDirectory } from '../extension.ts';
import type { SubMerchantOrderDirectory } from '../submerchants/service.ts';
import { replayOf, requestFingerprint } from '../idempotency.ts';
import type { Actor, NewOrder, OrderError, OrderService } from '../orders/service.ts';
import type { ContractCreate, ContractRef, ContractTerms, PayApply, PayNotify } from './schemas.ts';
import { checkTerms, DAY_MS, DEFAULT_REQUEST_MS, MAX_CONTRACT_MS, MAX_REQUEST_MS, periodIndex } from './terms.ts';

/**
 * Direct debit / pre-authorization (binance-pay-extended.md §14). A contract (mandate) is requested by the merchant,
 * signed by the payer on its page (or by paying an order that carries it, §14.9), then debited by the merchant within
 * its limits; signing holds no funds.
 *
 *   INITIAL ──sign──▶ CONTRACT_SIGNED ──terminate (payer 0, operator 2, merchant 3)──▶ CONTRACT_TERMINATED
 *      │                    └──contractEndTime (way 1)──▶ CONTRACT_EXPIRED
 *      └──requestExpireTime, or its order closed unpaid──▶ CONTRACT_EXPIRED (no webhook: no contractId yet)
 *
 * A debit (/pay/apply) is a step machine: ORDERING (reserved under the contract's row lock, which is where every limit
 * is checked, so concurrent debits can never exceed one) → PROCESSING (its order exists) → SUCCESS | FAILED. The
 * worker pays the order from the signer's funding balance through the order service; the order hooks move the step in
 * the transaction that pays or closes the order.
 */
export const CONTRACT_STATUSES = ['INITIAL', 'CONTRACT_SIGNED', 'CONTRACT_TERMINATED', 'CONTRACT_EXPIRED'] as const;
export type ContractStatus = (typeof CONTRACT_STATUSES)[number];

/** Which status may follow which; every change is one conditional update from one of these (see transition). */
const TRANSITIONS: Record<ContractStatus, readonly ContractStatus[]> = {
  INITIAL: ['CONTRACT_SIGNED', 'CONTRACT_EXPIRED'],
  CONTRACT_SIGNED: ['CONTRACT_TERMINATED', 'CONTRACT_EXPIRED'],
  CONTRACT_TERMINATED: [],
  CONTRACT_EXPIRED: [],
};
const allowedFrom = (to: ContractStatus) => CONTRACT_STATUSES.filter((s) => TRANSITIONS[s].includes(to));

/** §14.1 contractTerminationWay. */
export const TERMINATION_WAY = { PAYER: 0, EXPIRY: 1, OPERATOR: 2, MERCHANT: 3 } as const;

export interface Contract {
  preContractId: string;
  merchantId: string;
  creatorMerchantId: string;
  merchantContractCode: string;
  contractId: string | null;
  status: ContractStatus;
  subMerchantId: string | null;
  serviceName: string;
  scenarioCode: string;
  singleUpperLimit: string;
  currency: string;
  periodic: boolean;
  cycleDebitFixed: boolean | null;
  cycleType: 'MONTH' | 'DAY' | null;
  cycleValue: number | null;
  firstDeductTime: number | null;
  merchantAccountNo: string | null;
  requestExpireTime: number;
  contractEndTime: number;
  webhookUrl: string | null;
  returnUrl: string | null;
  cancelUrl: string | null;
  token: string;
  prepayId: string | null;
  payerId: string | null;
  openUserId: string | null;
  signedTime: number | null;
  terminationWay: number | null;
  terminationTime: number | null;
  createdAt: number;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function toContract(r: DbRow): Contract {
  return {
    preContractId: String(r.pre_contract_id),
    merchantId: String(r.merchant_id),
    creatorMerchantId: String(r.creator_merchant_id),
    merchantContractCode: r.merchant_contract_code,
    contractId: str(r.contract_id),
    status: r.status,
    subMerchantId: str(r.sub_merchant_id),
    serviceName: r.service_name,
    scenarioCode: r.scenario_code,
    singleUpperLimit: fixed(r.single_upper_limit, 8),
    currency: r.currency,
    periodic: r.periodic,
    cycleDebitFixed: r.cycle_debit_fixed,
    cycleType: r.cycle_type,
    cycleValue: num(r.cycle_value),
    firstDeductTime: num(r.first_deduct_time),
    merchantAccountNo: r.merchant_account_no,
    requestExpireTime: Number(r.request_expire_time),
    contractEndTime: Number(r.contract_end_time),
    webhookUrl: r.webhook_url,
    returnUrl: r.return_url,
    cancelUrl: r.cancel_url,
    token: r.token,
    prepayId: str(r.prepay_id),
    payerId: str(r.payer_id),
    openUserId: r.open_user_id,
    signedTime: num(r.signed_time),
    terminationWay: num(r.termination_way),
    terminationTime: num(r.termination_time),
    createdAt: Number(r.created_at),
  };
}

export type DebitStep = 'ORDERING' | 'PROCESSING' | 'SUCCESS' | 'FAILED';
export interface Debit {
  orderId: string;
  merchantRequestId: string;
  contractId: string;
  prepayId: string | null;
  amount: string;
  currency: string;
  step: DebitStep;
  appliedTime: number;
}
const toDebit = (r: DbRow): Debit => ({
  orderId: String(r.order_id),
  merchantRequestId: r.merchant_request_id,
  contractId: String(r.contract_id),
  prepayId: str(r.prepay_id),
  amount: fixed(r.amount, 8),
  currency: r.currency,
  step: r.step,
  appliedTime: Number(r.applied_time),
});

export type DirectDebitError = ExtendedError | 'FIELD_MISSING' | 'FIELD_VALUE' | OrderError;

/** The §14.4 QueryContractResult (and the §14.8 webhook data, which has the same fields). */
export function contractData(c: Contract, opts: { status?: boolean } = {}) {
  return {
    ...(opts.status === false ? {} : { bizStatus: c.status }),
    merchantContractCode: c.merchantContractCode,
    ...(c.contractId ? { contractId: raw(c.contractId) } : {}),
    serviceName: c.serviceName,
    ...(c.openUserId ? { openUserId: c.openUserId } : {}),
    ...(c.merchantAccountNo ? { merchantAccountNo: c.merchantAccountNo } : {}),
    singleUpperLimit: num8(c.singleUpperLimit),
    currency: c.currency,
    ...(c.terminationWay !== null ? { contractTerminationWay: c.terminationWay } : {}),
    ...(c.terminationTime !== null ? { contractTerminationTime: c.terminationTime } : {}),
  };
}

/** Worker lease on a debit (wall clock): long enough for one order payment, short enough to recover a crash. */
const LEASE_MS = 30_000;
const WORKER_BATCH = 32;
/** How long a twin of an /pay/apply request waits for the first one's order: 100 × 20 ms. */
const TWIN_WAIT_TRIES = 100;

/** The name (and logo) a payer sees on a contract. */
export interface ContractFace {
  merchantName: string;
  brandLogo: string | null;
}
const TWIN_WAIT_MS = 20;

export function createDirectDebitService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  outbox: Outbox;
  accounts: AccountsService;
  mailer: Mailer;
  prices: PriceSource;
  orders: OrderService;
  /** Whether a contract may name a sub-merchant, and the name and logo the payer then sees (§12.5, §14.3). */
  subMerchants: SubMerchantDirectory & Pick<SubMerchantOrderDirectory, 'face'>;
  openIdSalt: string;
  publicUrl: string;
  mode: 'sandbox' | 'production';
  /** The longest an order may stay open: a debit's order lives that long, so the worker always finds it payable. */
  maxOrderExpireMs: number;
  /** The scenario limit in USD (§14.2, operator setting `pay.directDebitScenarioLimitUsd`). */
  limitUsd: string;
}) {
  const { db, clock, ids, outbox, accounts, orders } = deps;

  /**
   * Who the payer sees asking: a contract naming one of a channel partner's sub-merchants shows the sub-merchant's
   * name and logo instead of the partner's (§14.3 "merchant (or sub-merchant) name and logo", §12.5).
   */
  async function faceOf(c: Contract): Promise<ContractFace> {
    const sub = c.subMerchantId ? await deps.subMerchants.face(db, c.merchantId, c.subMerchantId) : null;
    if (sub) return { merchantName: sub.merchantName, brandLogo: sub.brandLogo };
    const merchant = await accounts.getMerchant(c.merchantId);
    return { merchantName: merchant?.name ?? '', brandLogo: null };
  }

  const signingUrl = (token: string) => `${deps.publicUrl}/checkout/contract/${token}`;
  const openUserId = (payerId: string, merchantId: string) =>
    createHash('sha256').update(`${deps.openIdSalt}:${payerId}:${merchantId}`).digest('hex').slice(0, 32);

  async function webhook(q: Queryable, c: Contract) {
    // An unsigned request has no contractId: nothing to tell (§14.1).
    if (!c.contractId) return;
    const url = c.webhookUrl ?? (await accounts.getMerchant(c.creatorMerchantId, q))?.webhookUrl ?? null;
    await enqueuePayWebhook(outbox, q, {
      url,
      ownerId: c.creatorMerchantId,
      bizType: 'DIRECT_DEBIT_CT',
      bizId: c.contractId,
      bizStatus: c.status,
      data: contractData(c, { status: false }),
    });
  }

  /**
   * The one writer of pay_dd_contracts.status: a conditional update from the statuses the table allows (and `where`,
   * extra conditions on the row), with the DIRECT_DEBIT_CT webhook of the new status in the same transaction.
   * Signing issues the contractId. Returns the contract as updated, or null (nothing changed).
   */
  async function transition(
    q: Queryable,
    key: { preContractId: string } | { prepayId: string },
    to: ContractStatus,
    set: Record<string, unknown> = {},
    /** Signing only: the request is still open at this time (and is not tied to an order, §14.9). */
    openAt?: number,
  ): Promise<Contract | null> {
    const cols = Object.keys(set);
    const params: unknown[] = [
      'preContractId' in key ? key.preContractId : key.prepayId,
      to,
      allowedFrom(to),
      ...cols.map((c) => set[c]),
    ];
    const assignments = cols.map((c, i) => `, ${c} = $${i + 4}`).join('');
    const sign = to === 'CONTRACT_SIGNED' ? `, contract_id = nextval('pay_dd_contract_id_seq')` : '';
    const keyCol = 'preContractId' in key ? 'pre_contract_id' : 'prepay_id';
    const open = openAt === undefined ? '' : ` AND request_expire_time > $${params.push(openAt)} AND prepay_id IS NULL`;
    const r = await q.query(
      `UPDATE pay_dd_contracts SET status = $2${assignments}${sign} WHERE ${keyCol} = $1
        AND status = ANY($3::text[])${open} RETURNING *`,
      params,
    );
    if (r.rowCount !== 1) return null;
    const c = toContract(r.rows[0]);
    await webhook(q, c);
    return c;
  }

  async function findContract(q: Queryable, merchantId: string, ref: ContractRef, lock = false) {
    const forUpdate = lock ? ' FOR UPDATE' : '';
    if (ref.contractId != null)
      return (
        await q.query(`SELECT * FROM pay_dd_contracts WHERE merchant_id = $1 AND contract_id = $2${forUpdate}`, [
          merchantId,
          ref.contractId,
        ])
      ).rows[0];
    return (
      await q.query(
        `SELECT * FROM pay_dd_contracts WHERE merchant_id = $1 AND merchant_contract_code = $2${forUpdate}`,
        [merchantId, ref.merchantContractCode],
      )
    ).rows[0];
  }

  const refGiven = (ref: ContractRef): Result<void, DirectDebitError> =>
    ref.contractId == null && !ref.merchantContractCode
      ? err('FIELD_MISSING', 'contractId or merchantContractCode: one is required')
      : ok(undefined);

  const createAnswer = (c: Contract) => ({
    merchantId: raw(c.merchantId),
    preContractId: c.preContractId,
    contractEndTime: c.contractEndTime,
    requestExpireTime: c.requestExpireTime,
    qrContent: signingUrl(c.token),
    qrcodeLink: `${signingUrl(c.token)}/qr.png`,
    deeplink: signingUrl(c.token),
  });

  const termsFingerprint = (i: Omit<ContractCreate, 'requestExpireTime' | 'subMerchantId'>) => ({
    merchantContractCode: i.merchantContractCode,
    serviceName: i.serviceName,
    scenarioCode: i.scenarioCode,
    singleUpperLimit: new Decimal(i.singleUpperLimit).toFixed(),
    currency: i.currency,
    periodic: i.periodic,
    // Periodic terms only count for a periodic contract (they are not stored otherwise).
    ...(i.periodic
      ? {
          cycleDebitFixed: i.cycleDebitFixed,
          cycleType: i.cycleType,
          cycleValue: Number(i.cycleValue),
          firstDeductTime: i.firstDeductTime,
        }
      : {}),
    merchantAccountNo: i.merchantAccountNo ?? null,
    contractEndTime: i.contractEndTime ?? null,
  });

  const INSERT_CONTRACT = `INSERT INTO pay_dd_contracts (pre_contract_id, merchant_id, creator_merchant_id,
      merchant_contract_code, fingerprint, status, sub_merchant_id, service_name, scenario_code, single_upper_limit,
      currency, periodic, cycle_debit_fixed, cycle_type, cycle_value, first_deduct_time, merchant_account_no,
      request_expire_time, contract_end_time, webhook_url, return_url, cancel_url, token, prepay_id, created_at)
    VALUES ($1, $2, $3, $4, $5, 'INITIAL', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
      $22, $23, $24)
    ON CONFLICT (merchant_id, merchant_contract_code) DO NOTHING RETURNING *`;

  function contractRow(
    actor: Actor,
    i: Omit<ContractCreate, 'requestExpireTime'>,
    fingerprint: string,
    times: { now: number; requestExpireTime: number; contractEndTime: number },
    prepayId: string | null,
  ) {
    return [
      ids.next(),
      actor.merchantId,
      actor.creatorMerchantId,
      i.merchantContractCode,
      fingerprint,
      i.subMerchantId ?? null,
      i.serviceName,
      i.scenarioCode,
      i.singleUpperLimit,
      i.currency,
      i.periodic,
      i.periodic ? i.cycleDebitFixed : null,
      i.periodic ? i.cycleType : null,
      i.periodic ? Number(i.cycleValue) : null,
      i.periodic ? i.firstDeductTime : null,
      i.merchantAccountNo ?? null,
      times.requestExpireTime,
      times.contractEndTime,
      i.webhookUrl ?? null,
      i.returnUrl ?? null,
      i.cancelUrl ?? null,
      randomAlnum(32),
      prepayId,
      times.now,
    ];
  }

  async function subMerchantOk(merchantId: string, subMerchantId: string | null | undefined) {
    return subMerchantId == null || deps.subMerchants.isActive(db, merchantId, subMerchantId);
  }

  // ---- debits ----

  const debitOrder = (d: DbRow): NewOrder => d.order_input as NewOrder;

  /**
   * Step ORDERING → PROCESSING: creates the debit's order. Run by the request that reserved the debit, or by the worker
   * after a crash (then a merchantTradeNo already taken is the order the crashed attempt made, adopted if it matches).
   * A refusal drops the reservation (the notice and the period window are free again).
   */
  async function placeOrder(d: DbRow, recovering: boolean): Promise<Result<DbRow, DirectDebitError>> {
    const input = debitOrder(d);
    const actor = { merchantId: String(d.merchant_id), creatorMerchantId: String(d.creator_merchant_id) };
    const created = await orders.create(actor, input);
    let prepayId: string | null = created.ok ? created.value.prepayId : null;
    if (!created.ok && created.code === 'DUPLICATE_TRADE_NO' && recovering) {
      const found = await orders.get(actor.merchantId, { merchantTradeNo: input.merchantTradeNo });
      if (found.ok && found.value.orderAmount === fixed(String(d.amount), 8) && found.value.currency === d.currency)
        prepayId = found.value.prepayId;
    }
    if (prepayId === null) {
      await db.tx(async (q) => {
        const gone = await q.query(`DELETE FROM pay_dd_debits WHERE order_id = $1 AND step = 'ORDERING'`, [d.order_id]);
        if (gone.rowCount === 1)
          await q.query(`UPDATE pay_dd_notices SET used_by = NULL WHERE used_by = $1`, [d.order_id]);
      });
      return created.ok ? err('DUPLICATE_TRADE_NO', 'merchantTradeNo: is duplicated') : created;
    }
    const r = await db.query(
      `UPDATE pay_dd_debits SET prepay_id = $2, step = 'PROCESSING', lease_until = 0 WHERE order_id = $1
        AND step = 'ORDERING' RETURNING *`,
      [d.order_id, prepayId],
    );
    return ok(r.rows[0] ?? d);
  }

  /**
   * Step PROCESSING: pays the order from the signer's funding balance. The order hooks (onPaid / onClosed) move the
   * debit to SUCCESS or FAILED in the payment's (or closing's) transaction. A payer who is short ends the order in
   * ERROR with PAY_CLOSED (§14.7).
   */
  async function payDebit(d: DbRow) {
    const prepayId = String(d.prepay_id);
    const paid = await orders.pay(prepayId, String(d.payer_id), d.currency);
    if (paid.ok) return;
    const order = await orders.getByPrepayId(prepayId);
    // Paid or closed meanwhile (the hooks have moved the step), else the payment cannot be made: the order fails.
    if (order && order.status === 'INITIAL') await orders.fail(prepayId);
  }

  const service = {
    signingUrl,

    async create(actor: Actor, input: ContractCreate) {
      type Answer = ReturnType<typeof createAnswer>;
      const fingerprint = requestFingerprint({
        ...termsFingerprint(input),
        subMerchantId: input.subMerchantId ?? null,
        requestExpireTime: input.requestExpireTime ?? null,
        webhookUrl: input.webhookUrl ?? null,
        returnUrl: input.returnUrl ?? null,
        cancelUrl: input.cancelUrl ?? null,
      });
      const replay = replayOf(
        fingerprint,
        { field: 'merchantContractCode', column: 'merchant_contract_code' },
        (row): Answer => createAnswer(toContract(row)),
      );
      const existing = await findContract(db, actor.merchantId, { merchantContractCode: input.merchantContractCode });
      if (existing) return replay(existing);
      const now = clock.now();
      const terms = checkTerms(input, { now, limitUsd: deps.limitUsd, prices: deps.prices });
      if (!terms.ok) return terms;
      let requestExpireTime = now + DEFAULT_REQUEST_MS;
      if (input.requestExpireTime != null) {
        requestExpireTime = Number(input.requestExpireTime);
        if (!(requestExpireTime > now && requestExpireTime <= now + MAX_REQUEST_MS))
          return err('FIELD_VALUE', 'requestExpireTime: must be in the future and at most 7 days ahead');
      }
      if (!(await subMerchantOk(actor.merchantId, input.subMerchantId))) return err('SUB_MERCHANT_INVALID');
      const contractEndTime = input.contractEndTime != null ? Number(input.contractEndTime) : now + MAX_CONTRACT_MS;
      const row = contractRow(actor, input, fingerprint, { now, requestExpireTime, contractEndTime }, null);
      const inserted = (await db.query(INSERT_CONTRACT, row)).rows[0];
      // A concurrent twin stored it first: answered as a replay.
      if (!inserted) return replay(await findContract(db, actor.merchantId, input));
      return ok(createAnswer(toContract(inserted)));
    },

    async query(merchantId: string, ref: ContractRef): Promise<Result<Contract, DirectDebitError>> {
      const given = refGiven(ref);
      if (!given.ok) return given;
      const row = await findContract(db, merchantId, ref);
      return row ? ok(toContract(row)) : err('CONTRACT_NOT_FOUND');
    },

    /**
     * Ends a signed contract (§14.5): way 3 by the merchant's API, 0 by the payer, 2 by the operator. Terminated
     * already → true again without a second webhook; INITIAL or EXPIRED → CONTRACT_NOT_SIGNED.
     */
    async terminate(
      merchantId: string,
      ref: ContractRef,
      way: number,
      notes: string | null = null,
    ): Promise<Result<true, DirectDebitError>> {
      const given = refGiven(ref);
      if (!given.ok) return given;
      return db.tx(async (q) => {
        const row = await findContract(q, merchantId, ref, true);
        if (!row) return err('CONTRACT_NOT_FOUND');
        if (row.status === 'CONTRACT_TERMINATED') return ok(true as const);
        const done = await transition(q, { preContractId: String(row.pre_contract_id) }, 'CONTRACT_TERMINATED', {
          termination_way: way,
          termination_time: clock.now(),
          termination_notes: notes,
        });
        return done ? ok(true as const) : err('CONTRACT_NOT_SIGNED');
      });
    },

    /** The payer's Cancel (way 0): only a contract they signed. */
    async terminateByPayer(payerId: string, contractId: string): Promise<Result<true, DirectDebitError>> {
      const row = (
        await db.query(`SELECT merchant_id FROM pay_dd_contracts WHERE contract_id = $1 AND payer_id = $2`, [
          contractId,
          payerId,
        ])
      ).rows[0];
      if (!row) return err('CONTRACT_NOT_FOUND');
      return service.terminate(String(row.merchant_id), { contractId }, TERMINATION_WAY.PAYER);
    },

    /** The signing page's contract, with the name (and logo) the payer sees. */
    async byToken(token: string): Promise<({ contract: Contract } & ContractFace) | null> {
      if (!/^[A-Za-z0-9]{32}$/.test(token)) return null;
      const row = (await db.query(`SELECT * FROM pay_dd_contracts WHERE token = $1`, [token])).rows[0];
      if (!row) return null;
      const contract = toContract(row);
      return { contract, ...(await faceOf(contract)) };
    },

    /** The contract an order carries (§14.9), for its checkout; null for any other order. */
    async forOrder(prepayId: string): Promise<Contract | null> {
      if (!/^\d{1,19}$/.test(prepayId)) return null;
      const row = (await db.query(`SELECT * FROM pay_dd_contracts WHERE prepay_id = $1`, [prepayId])).rows[0];
      return row ? toContract(row) : null;
    },

    async byPreContractId(preContractId: string): Promise<Contract | null> {
      const row = (await db.query(`SELECT * FROM pay_dd_contracts WHERE pre_contract_id = $1`, [preContractId]))
        .rows[0];
      return row ? toContract(row) : null;
    },

    /**
     * The payer agrees (§14.3): INITIAL and before requestExpireTime → CONTRACT_SIGNED with its contractId, the
     * signer's openUserId and the webhook. A contract tied to an order is signed only by paying it (§14.9).
     */
    async sign(preContractId: string, payerId: string): Promise<Result<Contract, DirectDebitError>> {
      return db.tx(async (q) => {
        const row = (
          await q.query(`SELECT merchant_id FROM pay_dd_contracts WHERE pre_contract_id = $1`, [preContractId])
        ).rows[0];
        if (!row) return err('CONTRACT_NOT_FOUND');
        const now = clock.now();
        const signed = await transition(
          q,
          { preContractId },
          'CONTRACT_SIGNED',
          { payer_id: payerId, open_user_id: openUserId(payerId, String(row.merchant_id)), signed_time: now },
          now,
        );
        return signed ? ok(signed) : err('CONTRACT_NOT_SIGNED', 'This request can no longer be signed.');
      });
    },

    /** The signer's contracts, signed ones first (their account page). */
    async listForPayer(payerId: string): Promise<(Contract & { merchantName: string })[]> {
      const rows = (
        await db.query(
          `SELECT c.*, m.name AS merchant_name FROM pay_dd_contracts c LEFT JOIN merchants m ON m.id = c.merchant_id
            WHERE c.payer_id = $1 ORDER BY (c.status = 'CONTRACT_SIGNED') DESC, c.signed_time DESC LIMIT 200`,
          [payerId],
        )
      ).rows;
      return Promise.all(
        rows.map(async (r) => {
          const c = toContract(r);
          // A sub-merchant's contract is listed under the sub-merchant's name, as the payer signed it (§12.5).
          const name = c.subMerchantId ? (await faceOf(c)).merchantName : (r.merchant_name ?? '');
          return { ...c, merchantName: name };
        }),
      );
    },

    /** The merchant's contracts, newest first, with their debits' count and total (dashboard). */
    async listForMerchant(
      merchantId: string,
      limit = 100,
    ): Promise<(Contract & { debits: number; debited: string })[]> {
      const rows = (
        await db.query(
          `SELECT c.*, coalesce(d.n, 0) AS debits, coalesce(d.total, 0)::text AS debited FROM pay_dd_contracts c
            LEFT JOIN (SELECT contract_id, count(*) AS n, sum(amount) AS total FROM pay_dd_debits WHERE step = 'SUCCESS'
              GROUP BY contract_id) d ON d.contract_id = c.contract_id
            WHERE c.merchant_id = $1 ORDER BY c.created_at DESC, c.pre_contract_id DESC LIMIT $2`,
          [merchantId, limit],
        )
      ).rows;
      return rows.map((r) => ({ ...toContract(r), debits: Number(r.debits), debited: fixed(r.debited, 8) }));
    },

    async debits(contractId: string): Promise<Debit[]> {
      return (
        await db.query(`SELECT * FROM pay_dd_debits WHERE contract_id = $1 ORDER BY applied_time, order_id`, [
          contractId,
        ])
      ).rows.map(toDebit);
    },

    /** §14.6: a pre-debit notice of a periodic contract; the payer is told by e-mail. */
    async notify(actor: Actor, input: PayNotify) {
      const merchantId = actor.merchantId;
      const fingerprint = requestFingerprint({
        bizId: input.bizId,
        estimatedAmount: new Decimal(input.estimatedAmount).toFixed(),
        currency: input.currency,
        subMerchantId: input.subMerchantId ?? null,
      });
      const answer = (r: DbRow) => ({
        orderId: String(r.order_id),
        merchantRequestId: r.merchant_request_id,
        transactionTime: Number(r.transaction_time),
      });
      const replay = replayOf(fingerprint, { field: 'merchantRequestId', column: 'merchant_request_id' }, answer);
      const stored = async () =>
        (
          await db.query(`SELECT * FROM pay_dd_notices WHERE merchant_id = $1 AND merchant_request_id = $2`, [
            merchantId,
            input.merchantRequestId,
          ])
        ).rows[0];
      const existing = await stored();
      if (existing) return replay(existing);
      if (!(await subMerchantOk(merchantId, input.subMerchantId))) return err('SUB_MERCHANT_INVALID');
      const r = await db.tx(async (q): Promise<Result<DbRow | null, DirectDebitError>> => {
        const row = await findContract(q, merchantId, { contractId: input.bizId }, true);
        if (!row) return err('CONTRACT_NOT_FOUND');
        const c = toContract(row);
        const now = clock.now();
        if (c.status !== 'CONTRACT_SIGNED' || now >= c.contractEndTime) return err('CONTRACT_NOT_SIGNED');
        if (!c.periodic) return err('BUSINESS_RULE', 'Notification is only for periodic contracts.');
        if (input.currency !== c.currency) return err('BUSINESS_RULE', `currency: must be ${c.currency}`);
        if (new Decimal(input.estimatedAmount).gt(c.singleUpperLimit))
          return err('BUSINESS_RULE', 'estimatedAmount: exceeds the contract singleUpperLimit');
        const inserted = (
          await q.query(
            `INSERT INTO pay_dd_notices (order_id, merchant_id, merchant_request_id, fingerprint, contract_id,
              estimated_amount, currency, transaction_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (merchant_id, merchant_request_id) DO NOTHING RETURNING *`,
            [
              ids.next(),
              merchantId,
              input.merchantRequestId,
              fingerprint,
              c.contractId,
              input.estimatedAmount,
              c.currency,
              now,
            ],
          )
        ).rows[0];
        if (!inserted) return ok(null);
        const payer = c.payerId ? await accounts.getPayer(c.payerId, q) : null;
        const merchant = await accounts.getMerchant(c.merchantId, q);
        if (payer)
          await deps.mailer.send(q, {
            to: payer.email,
            subject: `Upcoming payment to ${merchant?.name ?? 'a merchant'}`,
            text:
              `${merchant?.name ?? 'A merchant'} will collect up to ${new Decimal(input.estimatedAmount).toFixed()} ` +
              `${c.currency} for "${c.serviceName}" under your direct debit agreement, not before ` +
              `${new Date(now + DAY_MS).toISOString()}.\n\nYou can cancel the agreement in your account: ` +
              `${deps.publicUrl}/wallet/contracts`,
          });
        return ok(inserted);
      });
      if (!r.ok) return r;
      return r.value ? ok(answer(r.value)) : replay(await stored());
    },

    /**
     * §14.7: accepts a debit (PROCESSING) after checking every rule under the contract's row lock, and creates its
     * order; the worker pays it.
     */
    async apply(actor: Actor, input: PayApply) {
      const merchantId = actor.merchantId;
      const fingerprint = requestFingerprint({
        bizId: input.bizId,
        preBizId: input.preBizId ?? null,
        amount: new Decimal(input.amount).toFixed(),
        currency: input.currency,
        subMerchantId: input.subMerchantId ?? null,
        productType: input.productType ?? null,
        productName: input.productName,
        productDetail: input.productDetail ?? null,
        webhookUrl: input.webhookUrl ?? null,
        ifProfitSharing: input.orderTags?.ifProfitSharing ?? null,
      });
      const answer = (r: DbRow) => ({
        orderId: String(r.order_id),
        prepayId: String(r.prepay_id),
        merchantRequestId: r.merchant_request_id,
        appliedTime: Number(r.applied_time),
        status: 'PROCESSING',
      });
      type Answer = ReturnType<typeof answer>;
      const replay = replayOf(fingerprint, { field: 'merchantRequestId', column: 'merchant_request_id' }, answer);
      const stored = async () =>
        (
          await db.query(`SELECT * FROM pay_dd_debits WHERE merchant_id = $1 AND merchant_request_id = $2`, [
            merchantId,
            input.merchantRequestId,
          ])
        ).rows[0];
      /**
       * A twin request of the same key: its answer once the first one has created the order (ORDERING lasts one
       * order insert); gone means the first one was refused, and this one is tried afresh by the merchant.
       */
      const settled = async (): Promise<Result<Answer, DirectDebitError>> => {
        for (let i = 0; i < TWIN_WAIT_TRIES; i++) {
          const row = await stored();
          if (!row) return err('BUSINESS_RULE', 'merchantRequestId: the first request with this key was refused.');
          if (row.step !== 'ORDERING' || row.fingerprint !== fingerprint) return replay(row);
          await new Promise((res) => setTimeout(res, TWIN_WAIT_MS));
        }
        return err('BUSINESS_RULE', 'merchantRequestId: a request with this key is still in progress.');
      };
      if (await stored()) return settled();
      // §14.7 Decision: the key becomes the order's merchantTradeNo.
      if ((await orders.get(merchantId, { merchantTradeNo: input.merchantRequestId })).ok)
        return err('DUPLICATE_TRADE_NO', 'merchantRequestId: is already a merchantTradeNo');
      if (!(await subMerchantOk(merchantId, input.subMerchantId))) return err('SUB_MERCHANT_INVALID');
      const reserved = await db.tx(async (q): Promise<Result<DbRow | null, DirectDebitError>> => {
        // The lock serializes every debit of this contract: the checks below see all debits accepted before.
        const row = await findContract(q, merchantId, { contractId: input.bizId }, true);
        if (!row) return err('CONTRACT_NOT_FOUND');
        const c = toContract(row);
        const now = clock.now();
        if (c.status !== 'CONTRACT_SIGNED' || now >= c.contractEndTime) return err('CONTRACT_NOT_SIGNED');
        if (input.currency !== c.currency) return err('BUSINESS_RULE', `currency: must be ${c.currency}`);
        if (new Decimal(input.amount).gt(c.singleUpperLimit))
          return err('BUSINESS_RULE', 'amount: exceeds the contract singleUpperLimit');
        let period: number | null = null;
        let noticeId: string | null = null;
        if (c.periodic) {
          if (input.preBizId == null) return err('BUSINESS_RULE', 'preBizId: is required for a periodic contract');
          const notice = (
            await q.query(`SELECT * FROM pay_dd_notices WHERE order_id = $1 AND contract_id = $2 FOR UPDATE`, [
              input.preBizId,
              c.contractId,
            ])
          ).rows[0];
          if (!notice) return err('BUSINESS_RULE', 'preBizId: is not a notice of this contract');
          if (notice.used_by !== null) return err('BUSINESS_RULE', 'preBizId: this notice was already used');
          if (Number(notice.transaction_time) + DAY_MS > now)
            return err('BUSINESS_RULE', 'preBizId: a debit may be applied 24 hours after its notice at the earliest');
          if (c.cycleDebitFixed && !new Decimal(input.amount).eq(notice.estimated_amount))
            return err('BUSINESS_RULE', 'amount: must equal the notice estimatedAmount (fixed-amount contract)');
          if (new Decimal(input.amount).gt(notice.estimated_amount))
            return err('BUSINESS_RULE', 'amount: exceeds the notice estimatedAmount');
          if (now < c.firstDeductTime!)
            return err('BUSINESS_RULE', 'The first debit is not due before firstDeductTime.');
          period = periodIndex(
            { cycleType: c.cycleType!, cycleValue: c.cycleValue!, firstDeductTime: c.firstDeductTime! },
            now,
          );
          const taken = await q.query(
            `SELECT 1 FROM pay_dd_debits WHERE contract_id = $1 AND period_index = $2 AND step <> 'FAILED'`,
            [c.contractId, period],
          );
          if (taken.rowCount)
            return err('BUSINESS_RULE', 'A debit of this contract was already applied in this period.');
          noticeId = String(notice.order_id);
        }
        const orderId = ids.next();
        const order: NewOrder = {
          apiVersion: 'v3',
          merchantTradeNo: input.merchantRequestId,
          terminalType: 'OTHERS',
          currency: c.currency,
          orderAmount: input.amount,
          goods: [],
          productType: input.productType ?? 'OTHERS',
          productName: input.productName,
          productDetail: input.productDetail ?? null,
          description: input.productName,
          webhookUrl: input.webhookUrl ?? null,
          orderExpireTime: String(now + deps.maxOrderExpireMs),
          subMerchantId: input.subMerchantId ?? null,
          extra: {
            directDebit: { orderId: String(orderId), contractId: c.contractId },
            ...(input.orderTags ? { orderTags: input.orderTags } : {}),
          },
        };
        const inserted = (
          await q.query(
            `INSERT INTO pay_dd_debits (order_id, merchant_id, creator_merchant_id, merchant_request_id, fingerprint,
               contract_id, payer_id, pre_biz_id, amount, currency, period_index, step, applied_time, order_input,
               lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'ORDERING', $12, $13, $14)
             ON CONFLICT (merchant_id, merchant_request_id) DO NOTHING RETURNING *`,
            [
              orderId,
              merchantId,
              actor.creatorMerchantId,
              input.merchantRequestId,
              fingerprint,
              c.contractId,
              c.payerId,
              noticeId,
              input.amount,
              c.currency,
              period,
              now,
              JSON.stringify(order),
              Date.now() + LEASE_MS,
            ],
          )
        ).rows[0];
        if (!inserted) return ok(null);
        if (noticeId) await q.query(`UPDATE pay_dd_notices SET used_by = $2 WHERE order_id = $1`, [noticeId, orderId]);
        return ok(inserted);
      });
      if (!reserved.ok) return reserved;
      if (!reserved.value) return settled();
      const placed = await placeOrder(reserved.value, false);
      return placed.ok ? ok(answer(placed.value)) : placed;
    },

    /**
     * Worker tick: debits due (SKIP LOCKED, then a wall-clock lease) are driven one step, then contracts past their
     * time expire. Returns how many things it did.
     */
    async runOnce(): Promise<number> {
      const due = await db.tx(
        async (q) =>
          (
            await q.query(
              `UPDATE pay_dd_debits SET lease_until = $1 WHERE order_id IN (SELECT order_id FROM pay_dd_debits
                WHERE step IN ('ORDERING', 'PROCESSING') AND lease_until <= $2 ORDER BY lease_until LIMIT $3
                FOR UPDATE SKIP LOCKED) RETURNING *`,
              [Date.now() + LEASE_MS, Date.now(), WORKER_BATCH],
            )
          ).rows,
      );
      for (const d of due) {
        if (d.step === 'ORDERING') {
          const placed = await placeOrder(d, true);
          if (placed.ok && placed.value.step === 'PROCESSING') await payDebit(placed.value);
        } else await payDebit(d);
      }
      return due.length + (await service.expireDue());
    },

    /** Unsigned requests past requestExpireTime and signed contracts past contractEndTime (way 1) expire. */
    async expireDue(limit = 100): Promise<number> {
      return db.tx(async (q) => {
        const now = clock.now();
        const rows = (
          await q.query(
            `SELECT pre_contract_id FROM pay_dd_contracts WHERE (status = 'INITIAL' AND prepay_id IS NULL
              AND request_expire_time <= $1) OR (status = 'CONTRACT_SIGNED' AND contract_end_time <= $1)
             LIMIT $2 FOR UPDATE SKIP LOCKED`,
            [now, limit],
          )
        ).rows;
        let n = 0;
        for (const r of rows)
          if (
            await transition(q, { preContractId: String(r.pre_contract_id) }, 'CONTRACT_EXPIRED', {
              termination_way: TERMINATION_WAY.EXPIRY,
              termination_time: now,
            })
          )
            n++;
        return n;
      });
    },

    // ---- the order's part (§14.9), called by the hooks ----

    /** Records the INITIAL contract an order carries, expiring with the order. */
    async recordForOrder(
      order: {
        prepayId: string;
        merchantId: string;
        creatorMerchantId: string;
        currency: string;
        expireTime: number;
        createTime: number;
      },
      terms: ContractTerms,
    ) {
      const withCurrency = { ...terms, currency: order.currency };
      const fingerprint = requestFingerprint({ ...termsFingerprint(withCurrency), prepayId: order.prepayId });
      const actor = { merchantId: order.merchantId, creatorMerchantId: order.creatorMerchantId };
      const contractEndTime =
        terms.contractEndTime != null ? Number(terms.contractEndTime) : order.createTime + MAX_CONTRACT_MS;
      // A code taken meanwhile by a concurrent request: the order stays, without a contract (DO NOTHING).
      await db.query(
        INSERT_CONTRACT,
        contractRow(
          actor,
          withCurrency,
          fingerprint,
          { now: order.createTime, requestExpireTime: order.expireTime, contractEndTime },
          order.prepayId,
        ),
      );
    },

    /** §14.9: the terms on an order follow §14.2 (the currency is the order's). */
    checkTerms: (terms: ContractTerms, currency: string) =>
      checkTerms({ ...terms, currency }, { now: clock.now(), limitUsd: deps.limitUsd, prices: deps.prices }),

    async codeTaken(merchantId: string, code: string): Promise<boolean> {
      return !!(await findContract(db, merchantId, { merchantContractCode: code }));
    },

    /** In the payment's transaction: its payer signs the order's contract (CONTRACT_SIGNED after PAY_SUCCESS). */
    async orderPaid(q: Queryable, order: { prepayId: string; payerId: string | null; merchantId: string }) {
      await q.query(`UPDATE pay_dd_debits SET step = 'SUCCESS' WHERE prepay_id = $1 AND step = 'PROCESSING'`, [
        order.prepayId,
      ]);
      if (!order.payerId) return;
      await transition(q, { prepayId: order.prepayId }, 'CONTRACT_SIGNED', {
        payer_id: order.payerId,
        open_user_id: openUserId(order.payerId, order.merchantId),
        signed_time: clock.now(),
      });
    },

    /** In the closing's transaction: its contract expires without a webhook; its debit fails and frees its notice. */
    async orderClosed(q: Queryable, order: { prepayId: string }) {
      const failed = await q.query(
        `UPDATE pay_dd_debits SET step = 'FAILED' WHERE prepay_id = $1 AND step = 'PROCESSING' RETURNING order_id`,
        [order.prepayId],
      );
      if (failed.rowCount)
        await q.query(`UPDATE pay_dd_notices SET used_by = NULL WHERE used_by = $1`, [failed.rows[0].order_id]);
      await transition(q, { prepayId: order.prepayId }, 'CONTRACT_EXPIRED', {
        termination_way: TERMINATION_WAY.EXPIRY,
        termination_time: clock.now(),
      });
    },

    /** A debit's order is paid only by the contract's signer (and only by the worker in practice). */
    async payableBy(q: Queryable, prepayId: string, payerId: string): Promise<boolean> {
      const r = await q.query(`SELECT payer_id FROM pay_dd_debits WHERE prepay_id = $1`, [prepayId]);
      return r.rowCount === 0 || String(r.rows[0].payer_id) === payerId;
    },
  };
  return service;
}

export type DirectDebitService = ReturnType<typeof createDirectDebitService>;
