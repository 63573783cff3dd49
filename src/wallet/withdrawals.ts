import { validateDestination } from '../chain/address.ts';
import { explorerUrl, findAssetNetwork, NETWORKS } from '../chain/networks.ts';
import type { ChainService } from '../chain/service.ts';
import type { Withdrawal } from '../chain/withdrawals.ts';
import type { Clock } from '../platform/clock.ts';
import { codeDigest, codeMatches, newConfirmationCode } from '../platform/codes.ts';
import type { Db, DbRow, Queryable } from '../platform/db/client.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import type { Mailer } from '../platform/mail.ts';
import { Decimal, isDecimalString } from '../platform/money.ts';
import { displayAmount } from '../web/amount.ts';

/**
 * A payer's withdrawal to an external address, from the form to the chain's withdrawal machine
 * (src/chain/withdrawals.ts), as a step machine of its own:
 *
 * - (form) → `code_sent`: a 6-digit code is mailed (outbox row written with the withdrawal row). No money moves.
 * - `code_sent` → `confirmed`: the person types the code (5 tries, 10 minutes, one use; kept as a keyed digest,
 *   platform/codes.ts).
 *   → `cancelled` (the person), → `expired` (time or tries).
 * - `confirmed` → `requested`: the handler calls `chain.withdrawals.request` with ref `wallet:<id>` (idempotent)
 *   and the fee: the chain holds the amount AND the fee from the payer in one transaction, which checks the
 *   balance (`wd:<id>` to the hot wallet, `wdfee:<id>` to the platform's `revenue_network_fee`). → `refused` when
 *   the chain refuses it (the balance is short now, limits): nothing was held.
 * - `requested` → `completed` when the chain withdrawal completes (the chain posts both holds), → `cancelled` when
 *   the operator cancels it (the chain voids both). A chain withdrawal that failed or waits for the hot wallet
 *   stays `requested`; the person sees why.
 *
 * The fee is separate from the amount: the address receives `amount`, the payer pays `amount + fee`, the fee being
 * the registry's withdrawFee for the asset on the network (ASSET_NETWORKS), shown on the form and again before the
 * code is typed.
 *
 * Every move is one conditional update from the step the table allows; a confirm replayed at any other step, or by
 * another payer, changes nothing. Two confirms racing: one moves the row, the other finds it moved. The confirm
 * request drives the row at once so the person sees the outcome; if it dies, the worker (`runOnce`) resumes it.
 */
export type WalletWithdrawalStep =
  'code_sent' | 'confirmed' | 'requested' | 'completed' | 'refused' | 'cancelled' | 'expired';

export const WALLET_WITHDRAWAL_STEPS: WalletWithdrawalStep[] = [
  'code_sent',
  'confirmed',
  'requested',
  'completed',
  'refused',
  'cancelled',
  'expired',
];

const TRANSITIONS: Record<WalletWithdrawalStep, WalletWithdrawalStep[]> = {
  code_sent: ['confirmed', 'cancelled', 'expired'],
  confirmed: ['requested', 'refused'],
  requested: ['completed', 'cancelled'],
  completed: [],
  refused: [],
  cancelled: [],
  expired: [],
};

const CODE_TTL_MS = 10 * 60_000;
const CODE_MAX_TRIES = 5;
export const chainRef = (id: string) => `wallet:${id}`;

export type WalletWithdrawalError =
  | 'UNSUPPORTED_NETWORK'
  | 'INVALID_ADDRESS'
  | 'WRONG_NETWORK'
  | 'INVALID_MEMO'
  | 'INVALID_AMOUNT'
  | 'AMOUNT_OUT_OF_LIMIT'
  | 'INSUFFICIENT_FUNDS'
  | 'NOT_FOUND'
  | 'WRONG_STEP'
  | 'WRONG_CODE'
  | 'CODE_EXPIRED';

export interface WalletWithdrawal {
  id: string;
  payerId: string;
  asset: string;
  network: string;
  address: string;
  memo: string;
  amount: string;
  fee: string;
  /** amount + fee: what leaves the payer's balance. */
  total: string;
  step: WalletWithdrawalStep;
  codeExpiresAt: number;
  codeAttemptsLeft: number;
  chainWithdrawalId: string | null;
  failure: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A wallet withdrawal with what the chain says about it (status, transaction, link). */
export interface WalletWithdrawalView extends WalletWithdrawal {
  chain: Pick<
    Withdrawal,
    'status' | 'txHash' | 'confirmations' | 'confirmationsRequired' | 'lastError' | 'waitingReason'
  > | null;
  /** Explorer link of the transaction, where the network has a public explorer (not the sandbox's dev chains). */
  txUrl: string | null;
}

const toRow = (r: DbRow): WalletWithdrawal => {
  const amount = new Decimal(r.amount);
  const fee = new Decimal(r.fee);
  return {
    id: r.id,
    payerId: r.payer_id,
    asset: r.asset,
    network: r.network,
    address: r.address,
    memo: r.memo,
    amount: amount.toFixed(),
    fee: fee.toFixed(),
    total: amount.plus(fee).toFixed(),
    step: r.step,
    codeExpiresAt: Number(r.code_expires_at),
    codeAttemptsLeft: Math.max(0, CODE_MAX_TRIES - r.code_attempts),
    chainWithdrawalId: r.chain_withdrawal_id,
    failure: r.failure,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
};

/**
 * The public explorer's page of a transaction, where there is one: the network's explorer in production; none in the
 * sandbox, whose EVM chains are private dev chains and whose other networks are simulated (the hash is shown).
 */
export function transactionUrl(mode: 'sandbox' | 'production', network: string, hash: string): string | null {
  if (mode === 'sandbox' || NETWORKS[network]?.family !== 'evm') return null;
  return explorerUrl(network, hash) || null;
}

/**
 * The one writer of `wallet_withdrawals.step`: a conditional update from a step the table allows. `codeLive` adds
 * the code's own conditions (tries left, not expired at `now`) to the same update, so a code typed as it lapses, or
 * beside a fifth wrong try, does not confirm.
 */
/** How long a runner holds the `confirmed` step while it asks the chain (wall-clock ms). */
const LEASE_MS = 30_000;

async function transition(
  q: Queryable,
  id: string,
  from: WalletWithdrawalStep,
  to: WalletWithdrawalStep,
  now: number,
  fields: { chain_withdrawal_id?: string; failure?: string; codeLive?: boolean } = {},
): Promise<WalletWithdrawal | null> {
  if (!TRANSITIONS[from].includes(to)) throw new Error(`wallet withdrawal: no transition ${from} → ${to}`);
  const r = await q.query(
    `UPDATE wallet_withdrawals SET step = $3, updated_at = $4, lease_until = NULL,
       chain_withdrawal_id = COALESCE($5, chain_withdrawal_id), failure = COALESCE($6, failure)
     WHERE id = $1 AND step = $2 AND (NOT $7 OR (code_attempts < $8 AND code_expires_at > $4)) RETURNING *`,
    [
      id,
      from,
      to,
      now,
      fields.chain_withdrawal_id ?? null,
      fields.failure ?? null,
      fields.codeLive ?? false,
      CODE_MAX_TRIES,
    ],
  );
  return r.rows[0] ? toRow(r.rows[0]) : null;
}

export function createWalletWithdrawals(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  chain: ChainService;
  mailer: Mailer;
  mode: 'sandbox' | 'production';
  /** Key of the codes' digests at rest (platform/codes.ts). */
  codeKey: string;
}) {
  const { db, clock, ledger, chain } = deps;

  async function load(q: Queryable, id: string): Promise<WalletWithdrawal | null> {
    if (!/^\d{1,19}$/.test(id)) return null;
    const r = (await q.query(`SELECT * FROM wallet_withdrawals WHERE id = $1`, [id])).rows[0];
    return r ? toRow(r) : null;
  }

  async function ofPayer(payerId: string, id: string) {
    const w = await load(db, id);
    return w && w.payerId === payerId ? w : null;
  }

  /** The form's checks (the chain checks them again when asked): destination, amount limits, balance. */
  async function check(input: {
    payerId: string;
    asset: string;
    network: string;
    address: string;
    memo: string;
    amount: string;
  }): Promise<Result<{ address: string; memo: string; amount: Decimal; fee: Decimal }, WalletWithdrawalError>> {
    const an = findAssetNetwork(input.asset, input.network);
    if (!an || !an.withdrawEnabled || !chain.hasAdapter(input.network))
      return err('UNSUPPORTED_NETWORK', `${input.asset} cannot be withdrawn on ${input.network}.`, 'network');
    const dest = validateDestination(input.network, input.address.trim(), input.memo.trim());
    if (!dest.ok) return err(dest.code, `${dest.message ?? 'Invalid address'}.`, dest.field);
    const text = input.amount.trim();
    if (!isDecimalString(text) || !new Decimal(text).gt(0))
      return err('INVALID_AMOUNT', 'Enter the amount as a number, for example 25.5.', 'amount');
    const amount = new Decimal(text);
    if (!amount.mod(an.withdrawIntegerMultiple).eq(0))
      return err(
        'INVALID_AMOUNT',
        `The amount can have at most the precision ${an.withdrawIntegerMultiple}.`,
        'amount',
      );
    if (amount.lt(an.withdrawMin) || amount.gt(an.withdrawMax))
      return err(
        'AMOUNT_OUT_OF_LIMIT',
        `The amount must be between ${an.withdrawMin} and ${an.withdrawMax} ${input.asset}.`,
        'amount',
      );
    const fee = new Decimal(an.withdrawFee);
    const bal = await ledger.balance(db, { ownerType: 'payer', ownerId: input.payerId, asset: input.asset });
    if (new Decimal(bal.available).lt(amount.plus(fee)))
      return err(
        'INSUFFICIENT_FUNDS',
        `Not enough ${input.asset}: ${amount.plus(fee).toFixed()} needed (amount + network fee), ` +
          `${new Decimal(bal.available).toFixed()} available.`,
        'amount',
      );
    return ok({ ...dest.value, amount, fee });
  }

  /** The form: checks, then the row and its mailed code in one transaction (the mail goes out through the outbox). */
  async function start(input: {
    payerId: string;
    email: string;
    asset: string;
    network: string;
    address: string;
    memo: string;
    amount: string;
  }): Promise<Result<WalletWithdrawal, WalletWithdrawalError>> {
    const c = await check(input);
    if (!c.ok) return c;
    const code = newConfirmationCode();
    const id = deps.ids.next().toString();
    const codeHash = codeDigest(deps.codeKey, id, code);
    const now = clock.now();
    const row = await db.tx(async (q) => {
      const r = await q.query(
        `INSERT INTO wallet_withdrawals (id, payer_id, asset, network, address, memo, amount, fee, step, code_hash,
           code_expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'code_sent', $9, $10, $11, $11) RETURNING *`,
        [
          id,
          input.payerId,
          input.asset,
          input.network,
          c.value.address,
          c.value.memo,
          c.value.amount.toFixed(),
          c.value.fee.toFixed(),
          codeHash,
          now + CODE_TTL_MS,
          now,
        ],
      );
      await deps.mailer.send(q, {
        to: input.email,
        subject: 'Confirm your withdrawal',
        text:
          `Your code to confirm the withdrawal of ${displayAmount(c.value.amount.toFixed(), input.asset)} on ${input.network} ` +
          `to ${c.value.address} is ${code}. It is valid for 10 minutes. If you did not ask for this withdrawal, ` +
          `do not share the code and change your password.`,
      });
      return toRow(r.rows[0]);
    });
    return ok(row);
  }

  /**
   * The code form. Refused (nothing changes) unless the row is the payer's and at `code_sent` with a live code; a
   * wrong code counts a try (the fifth voids the request). The right code moves it to `confirmed` with the fee held,
   * then the request is driven to the chain at once.
   */
  async function confirm(
    payerId: string,
    id: string,
    code: string,
  ): Promise<Result<WalletWithdrawal, WalletWithdrawalError>> {
    const w = await ofPayer(payerId, id);
    if (!w) return err('NOT_FOUND', 'No such withdrawal.');
    if (w.step !== 'code_sent') return err('WRONG_STEP', `This withdrawal is already ${w.step.replace('_', ' ')}.`);
    const now = clock.now();
    if (w.codeExpiresAt <= now || w.codeAttemptsLeft <= 0) {
      await transition(db, id, 'code_sent', 'expired', now, { failure: 'The code expired.' });
      return err('CODE_EXPIRED', 'The code has expired. Start the withdrawal again.');
    }
    const hash = (await db.query(`SELECT code_hash FROM wallet_withdrawals WHERE id = $1`, [id])).rows[0].code_hash;
    if (!codeMatches(deps.codeKey, id, code.trim(), hash)) {
      const r = await db.query(
        `UPDATE wallet_withdrawals SET code_attempts = code_attempts + 1, updated_at = $2
          WHERE id = $1 AND step = 'code_sent' RETURNING code_attempts`,
        [id, now],
      );
      if (!r.rows[0]) return err('WRONG_STEP', 'This withdrawal has changed; reload the page.');
      const left = CODE_MAX_TRIES - r.rows[0].code_attempts;
      if (left > 0) return err('WRONG_CODE', `Wrong code. ${left} ${left === 1 ? 'try' : 'tries'} left.`, 'code');
      await transition(db, id, 'code_sent', 'expired', now, { failure: 'Too many wrong codes.' });
      return err('CODE_EXPIRED', 'Wrong code. The withdrawal is void after 5 wrong codes; start again.', 'code');
    }
    const moved = await transition(db, id, 'code_sent', 'confirmed', now, { codeLive: true });
    if (!moved) {
      const later = await ofPayer(payerId, id);
      return err('WRONG_STEP', `This withdrawal is already ${later?.step.replace('_', ' ') ?? 'gone'}.`);
    }
    await process(id);
    return ok((await load(db, id))!);
  }

  /** The person changes their mind before confirming. Refused at every other step. */
  async function cancel(payerId: string, id: string): Promise<Result<WalletWithdrawal, WalletWithdrawalError>> {
    const w = await ofPayer(payerId, id);
    if (!w) return err('NOT_FOUND', 'No such withdrawal.');
    const moved = await transition(db, id, 'code_sent', 'cancelled', clock.now(), {
      failure: 'Cancelled before confirming.',
    });
    if (!moved)
      return err('WRONG_STEP', `This withdrawal is already ${w.step.replace('_', ' ')}; it cannot be cancelled.`);
    return ok(moved);
  }

  /** One step's handler; returns whether the row moved. Safe to run any number of times, from any process. */
  async function step(id: string): Promise<boolean> {
    const w = await load(db, id);
    if (!w) return false;
    const now = clock.now();
    if (w.step === 'code_sent') {
      if (w.codeExpiresAt > now) return false;
      return (await transition(db, id, 'code_sent', 'expired', now, { failure: 'The code expired.' })) !== null;
    }
    if (w.step === 'confirmed') {
      // One runner at a time asks the chain (a lease, as a crash may leave it taken until it lapses): a refusal seen by
      // one cannot race a success of another. Keyed by the row: a runner after a crash gets the same withdrawal back.
      const leased = await db.query(
        `UPDATE wallet_withdrawals SET lease_until = $2 WHERE id = $1 AND step = 'confirmed'
          AND (lease_until IS NULL OR lease_until < $3) RETURNING id`,
        [id, Date.now() + LEASE_MS, Date.now()],
      );
      if (leased.rows.length === 0) return false;
      const r = await chain.withdrawals.request({
        ref: chainRef(id),
        ownerType: 'payer',
        ownerId: w.payerId,
        asset: w.asset,
        network: w.network,
        address: w.address,
        memo: w.memo,
        amount: w.amount,
        fee: w.fee,
      });
      if (r.ok)
        return (await transition(db, id, 'confirmed', 'requested', now, { chain_withdrawal_id: r.value.id })) !== null;
      return (await transition(db, id, 'confirmed', 'refused', now, { failure: r.message ?? r.code })) !== null;
    }
    if (w.step === 'requested' && w.chainWithdrawalId) {
      const cw = await chain.withdrawals.get(w.chainWithdrawalId);
      if (cw?.status === 'completed') return (await transition(db, id, 'requested', 'completed', now)) !== null;
      if (cw?.status === 'cancelled')
        return (
          (await transition(db, id, 'requested', 'cancelled', now, { failure: 'Cancelled by the operator.' })) !== null
        );
    }
    return false;
  }

  async function process(id: string) {
    // Bounded: confirmed → requested → completed is at most two moves per call.
    for (let i = 0; i < 3; i++) if (!(await step(id))) break;
  }

  async function view(w: WalletWithdrawal): Promise<WalletWithdrawalView> {
    const cw = w.chainWithdrawalId ? await chain.withdrawals.get(w.chainWithdrawalId) : null;
    return {
      ...w,
      chain: cw
        ? {
            status: cw.status,
            txHash: cw.txHash,
            confirmations: cw.confirmations,
            confirmationsRequired: cw.confirmationsRequired,
            lastError: cw.lastError,
            waitingReason: cw.waitingReason,
          }
        : null,
      txUrl: cw?.txHash ? transactionUrl(deps.mode, w.network, cw.txHash) : null,
    };
  }

  return {
    check,
    start,
    confirm,
    cancel,
    process,
    async get(payerId: string, id: string): Promise<WalletWithdrawalView | null> {
      const w = await ofPayer(payerId, id);
      return w ? view(w) : null;
    },
    async list(payerId: string, limit = 20): Promise<WalletWithdrawalView[]> {
      const rows = (
        await db.query(
          `SELECT * FROM wallet_withdrawals WHERE payer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
          [payerId, limit],
        )
      ).rows.map(toRow);
      return Promise.all(rows.map(view));
    },
    /** Worker tick: every open row's handler (each idempotent, so two workers at once move a row once). */
    async runOnce(): Promise<number> {
      const rows = (
        await db.query<{ id: string }>(
          `SELECT id FROM wallet_withdrawals WHERE step IN ('code_sent', 'confirmed', 'requested')
            ORDER BY updated_at LIMIT 200`,
        )
      ).rows;
      let moved = 0;
      for (const r of rows) if (await step(r.id)) moved++;
      return moved;
    },
  };
}

export type WalletWithdrawals = ReturnType<typeof createWalletWithdrawals>;
