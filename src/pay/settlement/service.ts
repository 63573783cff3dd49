import { validateDestination } from '../../chain/address.ts';
import { ASSET_NETWORKS, explorerUrl, findAssetNetwork } from '../../chain/networks.ts';
import type { ChainService } from '../../chain/service.ts';
import type { Withdrawal, WithdrawalSettledEvent } from '../../chain/withdrawals.ts';
import type { Clock } from '../../platform/clock.ts';
import { codeDigest, codeMatches, newConfirmationCode } from '../../platform/codes.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, errorField, ok, type Result } from '../../platform/errors.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import type { Ledger } from '../../platform/ledger/service.ts';
import type { Mailer } from '../../platform/mail.ts';
import { Decimal, isDecimalString } from '../../platform/money.ts';

/**
 * Merchant settlement (issue #16): the merchant takes its Pay balance (ledger owner `merchant`, the funding wallet)
 * out to its own addresses.
 *
 * Whitelisted addresses. Added from the dashboard, an address waits for the 6-digit code e-mailed to the dashboard
 * user (only its HMAC is stored; 5 attempts; 10 minutes), then for a cooling-off period (24 h on the business clock);
 * it is ACTIVE from `active_at` on. The operator adds addresses without a code, with the same cooling-off unless it
 * says otherwise. Removal is immediate. Statuses: PENDING_CODE → CONFIRMED (code) | REJECTED (expired, attempts
 * exhausted); PENDING_CODE, CONFIRMED → REMOVED. COOLING_OFF and ACTIVE are CONFIRMED read against the clock.
 *
 * Settlements: a step machine whose money is the chain withdrawal's hold (chain.withdrawals.request, ref
 * `settle:<id>`, amount and network fee held from the merchant in the chain's own transaction, which checks the
 * balance; posted when the chain completes it, voided when it is cancelled).
 *
 *   from         to                                   handler (outside call, keyed)
 *   REQUESTED    WITHDRAWING (hold made)              chain request, ref settle:<id> (idempotent by ref), under a
 *                REJECTED (no funds, nothing held)      wall-clock lease so only one caller decides
 *                CANCELLED (operator, before a hold)
 *   WITHDRAWING  COMPLETED (chain completed)          reads the chain withdrawal
 *                FAILED (chain failed: the settlement cancels it, hold voided)
 *                CANCELLED (cancelled at the chain)
 *   COMPLETED, FAILED, REJECTED, CANCELLED: final
 *
 * The merchant's confirm drives the machine itself so the page shows the outcome at once; the `pay-settlement` worker
 * resumes anything left (a crash, a lapsed lease) and follows the chain. A replayed confirm (same request key) answers
 * with the settlement it made and never makes a second one.
 */
export type SettlementStatus = 'REQUESTED' | 'WITHDRAWING' | 'COMPLETED' | 'FAILED' | 'REJECTED' | 'CANCELLED';
const TRANSITIONS: Record<SettlementStatus, SettlementStatus[]> = {
  REQUESTED: ['WITHDRAWING', 'REJECTED', 'CANCELLED'],
  WITHDRAWING: ['COMPLETED', 'FAILED', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  REJECTED: [],
  CANCELLED: [],
};
export const OPEN_SETTLEMENT: SettlementStatus[] = ['REQUESTED', 'WITHDRAWING'];

type StoredAddressStatus = 'PENDING_CODE' | 'CONFIRMED' | 'REMOVED' | 'REJECTED';
export type AddressStatus = 'PENDING_CODE' | 'COOLING_OFF' | 'ACTIVE' | 'REMOVED' | 'REJECTED';
export type SettlementSource = 'DASHBOARD' | 'ADMIN' | 'AUTO_DAILY' | 'AUTO_THRESHOLD';
export type AutoMode = 'DAILY' | 'THRESHOLD';

export type SettlementError =
  | 'MERCHANT_NOT_FOUND'
  | 'UNSUPPORTED_NETWORK'
  | 'WITHDRAW_DISABLED'
  | 'NETWORK_UNAVAILABLE'
  | 'INVALID_ADDRESS'
  | 'WRONG_NETWORK'
  | 'INVALID_MEMO'
  | 'INVALID_LABEL'
  | 'ADDRESS_EXISTS'
  | 'ADDRESS_NOT_FOUND'
  | 'NOT_PENDING'
  | 'WRONG_CODE'
  | 'CODE_EXPIRED'
  | 'TOO_MANY_ATTEMPTS'
  | 'ADDRESS_NOT_ACTIVE'
  | 'INVALID_AMOUNT'
  | 'AMOUNT_OUT_OF_LIMIT'
  | 'INSUFFICIENT_FUNDS'
  | 'REQUEST_KEY_REUSED'
  | 'SETTLEMENT_NOT_FOUND'
  | 'NOT_CANCELLABLE'
  | 'INVALID_THRESHOLD';

export const COOLING_OFF_MS = 24 * 60 * 60_000;
export const CODE_TTL_MS = 10 * 60_000;
export const CODE_ATTEMPTS = 5;
/** How long a caller may hold a REQUESTED settlement while it asks the chain (wall clock). */
const LEASE_MS = 30_000;
const DAY_MS = 24 * 60 * 60_000;

export interface SettlementAddress {
  id: string;
  merchantId: string;
  asset: string;
  network: string;
  address: string;
  memo: string;
  label: string;
  status: AddressStatus;
  /** When the cooling-off ends (CONFIRMED); null before the code is entered. */
  activeAt: number | null;
  codeExpiresAt: number | null;
  addedBy: string;
  createdAt: number;
}

export interface Settlement {
  id: string;
  merchantId: string;
  requestKey: string;
  addressId: string;
  asset: string;
  network: string;
  /** Taken from the merchant's balance: what the address receives plus the network fee. */
  amount: string;
  fee: string;
  receive: string;
  source: SettlementSource;
  status: SettlementStatus;
  withdrawalId: string | null;
  failure: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A settlement with what the chain says about its withdrawal (for history pages and the admin API). */
export interface SettlementView extends Settlement {
  address: string;
  memo: string;
  label: string;
  chain: {
    status: string;
    confirmations: number;
    confirmationsRequired: number;
    txHash: string | null;
    txUrl: string | null;
    waitingReason: string | null;
  } | null;
}

export interface AutoSetting {
  asset: string;
  network: string;
  mode: AutoMode;
  threshold: string | null;
  addressId: string;
  enabled: boolean;
  nextDueAt: number;
  runs: number;
}

/** The fee and what arrives, for the review before confirming. */
export interface SettlementQuote {
  address: SettlementAddress;
  amount: string;
  fee: string;
  receive: string;
  available: string;
}

const SETTLE_REF = 'settle:';
const settleRef = (id: string) => `${SETTLE_REF}${id}`;
/** The chain announces the outcome of a settlement's withdrawal here (its own topic: one handler per topic). */
export const SETTLEMENT_WITHDRAWAL_TOPIC = 'pay.settlement.withdrawal-settled';
const dec = (v: unknown) => new Decimal(String(v ?? 0)).toFixed();

function addressStatus(r: DbRow, now: number): AddressStatus {
  const s = r.status as StoredAddressStatus;
  if (s !== 'CONFIRMED') return s;
  return Number(r.active_at) <= now ? 'ACTIVE' : 'COOLING_OFF';
}

function toSettlement(r: DbRow): Settlement {
  const amount = new Decimal(r.amount);
  const fee = new Decimal(r.fee);
  return {
    id: r.id,
    merchantId: r.merchant_id,
    requestKey: r.request_key,
    addressId: r.address_id,
    asset: r.asset,
    network: r.network,
    amount: amount.toFixed(),
    fee: fee.toFixed(),
    receive: amount.minus(fee).toFixed(),
    source: r.source,
    status: r.status,
    withdrawalId: r.withdrawal_id,
    failure: r.failure,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The next midnight (UTC) strictly after `now`: when a daily settlement is due. */
export const nextMidnight = (now: number) => Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;

export function createSettlementService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  mailer: Mailer;
  chain: ChainService;
  /** Secret of the code HMAC (so a leaked table does not give the 6-digit codes away by brute force). */
  codeKey: string;
  merchantExists(merchantId: string): Promise<boolean>;
  /**
   * A suspended merchant's money is frozen: its automatic settlements do not run and its requested ones wait (one
   * already handed to the chain follows the chain).
   */
  merchantActive(merchantId: string): Promise<boolean>;
}) {
  const { db, clock, ledger, chain } = deps;

  const toAddress = (r: DbRow): SettlementAddress => ({
    id: r.id,
    merchantId: r.merchant_id,
    asset: r.asset,
    network: r.network,
    address: r.address,
    memo: r.memo,
    label: r.label,
    status: addressStatus(r, clock.now()),
    activeAt: r.active_at === null ? null : Number(r.active_at),
    codeExpiresAt: r.code_expires_at === null ? null : Number(r.code_expires_at),
    addedBy: r.added_by,
    createdAt: Number(r.created_at),
  });

  async function addressRow(q: Queryable, merchantId: string, id: string) {
    return (
      await q.query(`SELECT * FROM pay_settlement_addresses WHERE id = $1 AND merchant_id = $2`, [id, merchantId])
    ).rows[0];
  }

  /** The one writer of pay_settlements.status: a conditional update from `from`; null if the row moved meanwhile. */
  async function transition(
    q: Queryable,
    id: string,
    from: SettlementStatus,
    to: SettlementStatus,
    set: Record<string, unknown> = {},
  ) {
    if (!TRANSITIONS[from].includes(to)) throw new Error(`illegal settlement transition ${from} → ${to}`);
    const cols = Object.keys(set);
    const r = await q.query(
      `UPDATE pay_settlements SET status = $3, updated_at = $4, lease_until = NULL${cols
        .map((c, i) => `, ${c} = $${i + 5}`)
        .join('')} WHERE id = $1 AND status = $2 RETURNING *`,
      [id, from, to, clock.now(), ...cols.map((c) => set[c])],
    );
    return r.rows[0] ? toSettlement(r.rows[0]) : null;
  }

  const load = async (id: string) => {
    const r = (await db.query(`SELECT * FROM pay_settlements WHERE id = $1`, [id])).rows[0];
    return r ? toSettlement(r) : null;
  };

  /** REQUESTED: asks the chain for the withdrawal (holding the money), once, under a lease. */
  async function stepRequested(s: Settlement): Promise<boolean> {
    if (!(await deps.merchantActive(s.merchantId))) return false;
    const leased = await db.query(
      `UPDATE pay_settlements SET lease_until = $2 WHERE id = $1 AND status = 'REQUESTED'
        AND (lease_until IS NULL OR lease_until < $3) RETURNING *`,
      [s.id, Date.now() + LEASE_MS, Date.now()],
    );
    if (leased.rows.length === 0) return false;
    const a = (await db.query(`SELECT * FROM pay_settlement_addresses WHERE id = $1`, [s.addressId])).rows[0]!;
    const r = await chain.withdrawals.request({
      ref: settleRef(s.id),
      ownerType: 'merchant',
      ownerId: s.merchantId,
      asset: s.asset,
      network: s.network,
      address: a.address,
      memo: a.memo,
      amount: s.receive,
      fee: s.fee,
      notifyTopic: SETTLEMENT_WITHDRAWAL_TOPIC,
    });
    if (r.ok) return (await transition(db, s.id, 'REQUESTED', 'WITHDRAWING', { withdrawal_id: r.value.id })) !== null;
    // Nothing was held (the chain's transaction rolled back): the settlement ends here.
    return (
      (await transition(db, s.id, 'REQUESTED', 'REJECTED', {
        failure: `${r.code}: ${r.message ?? ''}`.slice(0, 300),
      })) !== null
    );
  }

  /** WITHDRAWING: follows the chain withdrawal; a failed one is cancelled (hold voided) and the settlement FAILED. */
  async function stepWithdrawing(s: Settlement): Promise<boolean> {
    const w = s.withdrawalId ? await chain.withdrawals.get(s.withdrawalId) : null;
    if (!w) throw new Error(`settlement ${s.id} has no chain withdrawal`);
    if (w.status === 'completed') return (await transition(db, s.id, 'WITHDRAWING', 'COMPLETED')) !== null;
    if (w.status === 'cancelled')
      return (
        (await transition(db, s.id, 'WITHDRAWING', 'CANCELLED', { failure: w.failureReason ?? 'cancelled' })) !== null
      );
    if (w.status === 'failed') {
      // Cancelling at the chain is what releases the money; a concurrent caller that got there first is fine too.
      const c = await chain.withdrawals.cancel(w.id);
      if (!c.ok && (await chain.withdrawals.get(w.id))?.status !== 'cancelled') return false;
      return (
        (await transition(db, s.id, 'WITHDRAWING', 'FAILED', {
          failure: `${w.failureReason ?? 'FAILED'}: ${w.lastError ?? ''}`.slice(0, 300),
        })) !== null
      );
    }
    return false;
  }

  async function advance(id: string): Promise<Settlement | null> {
    for (let i = 0; i < 3; i++) {
      const s = await load(id);
      if (!s) return null;
      const moved =
        s.status === 'REQUESTED'
          ? await stepRequested(s)
          : s.status === 'WITHDRAWING'
            ? await stepWithdrawing(s)
            : false;
      if (!moved) return (await load(id))!;
    }
    return load(id);
  }

  /** Fee and receive amount of taking `amount` out to an address; checks the address, the amount and the limits. */
  async function quote(
    merchantId: string,
    addressId: string,
    amountText: string,
  ): Promise<Result<SettlementQuote, SettlementError>> {
    const r = await addressRow(db, merchantId, addressId);
    if (!r) return err('ADDRESS_NOT_FOUND', 'No such withdrawal address.');
    const address = toAddress(r);
    if (address.status !== 'ACTIVE') {
      return err(
        'ADDRESS_NOT_ACTIVE',
        address.status === 'COOLING_OFF'
          ? `This address becomes usable at ${new Date(address.activeAt!).toISOString()} (cooling-off period).`
          : 'This address is not active.',
      );
    }
    const an = findAssetNetwork(address.asset, address.network)!;
    const available = (await ledger.balance(db, { ownerType: 'merchant', ownerId: merchantId, asset: address.asset }))
      .available;
    if (!isDecimalString(amountText) || !new Decimal(amountText).gt(0))
      return err('INVALID_AMOUNT', 'Enter a positive amount, e.g. 125.5.', 'amount');
    const amount = new Decimal(amountText);
    const fee = new Decimal(an.withdrawFee);
    const receive = amount.minus(fee);
    if (!receive.gt(0) || receive.lt(an.withdrawMin) || receive.gt(an.withdrawMax)) {
      return err(
        'AMOUNT_OUT_OF_LIMIT',
        `After the network fee of ${fee.toFixed()} ${address.asset}, the amount received must be between ` +
          `${an.withdrawMin} and ${an.withdrawMax} ${address.asset}.`,
        'amount',
      );
    }
    if (!receive.mod(an.withdrawIntegerMultiple).eq(0))
      return err('INVALID_AMOUNT', `Use at most the precision of ${an.withdrawIntegerMultiple} ${address.asset}.`);
    if (amount.gt(available))
      return err('INSUFFICIENT_FUNDS', `Your available balance is ${available} ${address.asset}.`, 'amount');
    return ok({ address, amount: amount.toFixed(), fee: fee.toFixed(), receive: receive.toFixed(), available });
  }

  async function view(s: Settlement): Promise<SettlementView> {
    const a = (await db.query(`SELECT address, memo, label FROM pay_settlement_addresses WHERE id = $1`, [s.addressId]))
      .rows[0]!;
    const w: Withdrawal | null = s.withdrawalId ? await chain.withdrawals.get(s.withdrawalId) : null;
    return {
      ...s,
      address: a.address,
      memo: a.memo,
      label: a.label,
      chain: w && {
        status: w.status,
        confirmations: w.confirmations,
        confirmationsRequired: w.confirmationsRequired,
        txHash: w.txHash,
        txUrl: w.txHash && !w.simulated ? explorerUrl(w.network, w.txHash) : null,
        waitingReason: w.waitingReason,
      },
    };
  }

  const toAuto = (r: DbRow): AutoSetting => ({
    asset: r.asset,
    network: r.network,
    mode: r.mode,
    threshold: r.threshold === null ? null : dec(r.threshold),
    addressId: r.address_id,
    enabled: r.enabled,
    nextDueAt: Number(r.next_due_at),
    runs: r.runs,
  });

  /**
   * One automatic settlement, if due: claims the run (conditional update of `runs`) and records the settlement in one
   * transaction, then drives it. The amount is the whole available balance less nothing: the fee comes out of it.
   */
  async function runAuto(r: DbRow): Promise<boolean> {
    if (!(await deps.merchantActive(r.merchant_id))) return false;
    const now = clock.now();
    const a = await addressRow(db, r.merchant_id, r.address_id);
    if (!a || addressStatus(a, now) !== 'ACTIVE') return false;
    const an = findAssetNetwork(r.asset, r.network);
    if (!an) return false;
    const id = deps.ids.next().toString();
    const made = await db.tx(async (q) => {
      const available = new Decimal(
        (await ledger.balance(q, { ownerType: 'merchant', ownerId: r.merchant_id, asset: r.asset })).available,
      );
      if (r.mode === 'THRESHOLD') {
        if (!available.gt(r.threshold)) return false;
        const open = await q.query(
          `SELECT 1 FROM pay_settlements WHERE merchant_id = $1 AND asset = $2 AND network = $3
            AND source = 'AUTO_THRESHOLD' AND status IN ('REQUESTED', 'WITHDRAWING') LIMIT 1`,
          [r.merchant_id, r.asset, r.network],
        );
        if (open.rows.length > 0) return false;
      }
      const claimed = await q.query(
        `UPDATE pay_settlement_auto SET runs = runs + 1, next_due_at = $5, updated_at = $6
          WHERE merchant_id = $1 AND asset = $2 AND network = $3 AND runs = $4 AND enabled RETURNING runs`,
        [r.merchant_id, r.asset, r.network, r.runs, r.mode === 'DAILY' ? nextMidnight(now) : 0, now],
      );
      if (claimed.rows.length === 0) return false;
      const fee = new Decimal(an.withdrawFee);
      let receive = available.minus(fee);
      receive = receive.minus(receive.mod(an.withdrawIntegerMultiple));
      if (receive.gt(an.withdrawMax)) receive = new Decimal(an.withdrawMax);
      // Too little to send this time: the run is used up (a daily one waits for tomorrow).
      if (receive.lt(an.withdrawMin) || !receive.gt(0)) return false;
      await q.query(
        `INSERT INTO pay_settlements (id, merchant_id, request_key, address_id, asset, network, amount, fee, source,
          status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'REQUESTED', $10, $10)`,
        [
          id,
          r.merchant_id,
          `auto:${r.asset}:${r.network}:${claimed.rows[0]!.runs}`,
          r.address_id,
          r.asset,
          r.network,
          receive.plus(fee).toFixed(),
          fee.toFixed(),
          r.mode === 'DAILY' ? 'AUTO_DAILY' : 'AUTO_THRESHOLD',
          now,
        ],
      );
      return true;
    });
    if (made) await advance(id);
    return made;
  }

  return {
    COOLING_OFF_MS,

    async listAddresses(merchantId: string, opts: { includeRemoved?: boolean } = {}) {
      const rows = (
        await db.query(
          `SELECT * FROM pay_settlement_addresses WHERE merchant_id = $1
            ${opts.includeRemoved ? '' : `AND status IN ('PENDING_CODE', 'CONFIRMED')`} ORDER BY created_at, id`,
          [merchantId],
        )
      ).rows;
      return rows.map(toAddress);
    },

    async getAddress(merchantId: string, id: string) {
      const r = await addressRow(db, merchantId, id);
      return r ? toAddress(r) : null;
    },

    /**
     * Whitelists an address. From the dashboard (`by.email`): PENDING_CODE and a code mailed to that user, in the same
     * transaction. From the operator: CONFIRMED at once, active after the cooling-off unless `coolingOff` is false.
     */
    async addAddress(
      merchantId: string,
      input: { asset: string; network: string; address: string; memo?: string | null; label: string },
      by: { kind: 'dashboard'; userId: string; email: string } | { kind: 'admin'; coolingOff: boolean },
    ): Promise<Result<SettlementAddress, SettlementError>> {
      if (!(await deps.merchantExists(merchantId))) return err('MERCHANT_NOT_FOUND', 'No such merchant.');
      const an = findAssetNetwork(input.asset, input.network);
      if (!an) return err('UNSUPPORTED_NETWORK', `${input.asset} is not available on ${input.network}.`, 'network');
      if (!an.withdrawEnabled)
        return err('WITHDRAW_DISABLED', `Withdrawals of ${input.asset} on ${input.network} are suspended.`);
      if (!chain.hasAdapter(input.network))
        return err('NETWORK_UNAVAILABLE', `Network ${input.network} is not available on this platform.`, 'network');
      const dest = validateDestination(input.network, input.address, input.memo);
      if (!dest.ok) return err(dest.code as SettlementError, dest.message, dest.field);
      const label = input.label.trim();
      if (label.length < 1 || label.length > 64)
        return err('INVALID_LABEL', 'Give the address a label of 1 to 64 characters.', 'label');
      const id = deps.ids.next().toString();
      const now = clock.now();
      const code = newConfirmationCode();
      try {
        const row = await db.tx(async (q) => {
          // A code that lapsed unused does not keep the address from being added again.
          await q.query(
            `UPDATE pay_settlement_addresses SET status = 'REJECTED', code_hash = NULL, updated_at = $7
              WHERE merchant_id = $1 AND asset = $2 AND network = $3 AND address = $4 AND memo = $5
              AND status = 'PENDING_CODE' AND code_expires_at <= $6`,
            [merchantId, input.asset, input.network, dest.value.address, dest.value.memo, now, now],
          );
          const confirmed = by.kind === 'admin';
          const r = (
            await q.query(
              `INSERT INTO pay_settlement_addresses (id, merchant_id, asset, network, address, memo, label, status,
                code_hash, code_expires_at, active_at, added_by, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING *`,
              [
                id,
                merchantId,
                input.asset,
                input.network,
                dest.value.address,
                dest.value.memo,
                label,
                confirmed ? 'CONFIRMED' : 'PENDING_CODE',
                confirmed ? null : codeDigest(deps.codeKey, id, code),
                confirmed ? null : now + CODE_TTL_MS,
                confirmed ? now + (by.coolingOff ? COOLING_OFF_MS : 0) : null,
                confirmed ? 'admin' : `dashboard:${by.userId}`,
                now,
              ],
            )
          ).rows[0]!;
          if (by.kind === 'dashboard') {
            await deps.mailer.send(q, {
              to: by.email,
              subject: `Your code to whitelist a ${input.asset} withdrawal address: ${code}`,
              text:
                `Your code is ${code}. Enter it in the dashboard to whitelist ${dest.value.address} ` +
                `(${input.asset} on ${input.network}, "${label}"). It is valid for 10 minutes.\n\n` +
                `The address can receive withdrawals 24 hours after the code is entered. If you did not ask for ` +
                `this, do not enter the code and tell your operator.`,
            });
          }
          return r;
        });
        return ok(toAddress(row));
      } catch (e) {
        if (errorField(e, 'code') === '23505')
          return err('ADDRESS_EXISTS', 'This address is already on the whitelist for this asset and network.');
        throw e;
      }
    },

    /** The e-mailed code: right → CONFIRMED with its cooling-off; wrong → one attempt used; expired → REJECTED. */
    async confirmAddress(
      merchantId: string,
      id: string,
      code: string,
    ): Promise<Result<SettlementAddress, SettlementError>> {
      const now = clock.now();
      const res = await db.tx(async (q) => {
        const r = (
          await q.query(`SELECT * FROM pay_settlement_addresses WHERE id = $1 AND merchant_id = $2 FOR UPDATE`, [
            id,
            merchantId,
          ])
        ).rows[0];
        if (!r) return err('ADDRESS_NOT_FOUND', 'No such withdrawal address.');
        if (r.status !== 'PENDING_CODE') return err('NOT_PENDING', 'This address is not waiting for a code.');
        if (Number(r.code_expires_at) <= now) {
          await q.query(
            `UPDATE pay_settlement_addresses SET status = 'REJECTED', code_hash = NULL, updated_at = $2
              WHERE id = $1 AND status = 'PENDING_CODE'`,
            [id, now],
          );
          return err('CODE_EXPIRED', 'The code has expired. Add the address again to get a new code.');
        }
        if (!codeMatches(deps.codeKey, id, code, r.code_hash)) {
          const used = r.code_attempts + 1;
          const last = used >= CODE_ATTEMPTS;
          await q.query(
            `UPDATE pay_settlement_addresses SET code_attempts = $2, updated_at = $3
              ${last ? `, status = 'REJECTED', code_hash = NULL` : ''} WHERE id = $1 AND status = 'PENDING_CODE'`,
            [id, used, now],
          );
          return last
            ? err('TOO_MANY_ATTEMPTS', 'Too many wrong codes. Add the address again to get a new code.')
            : err('WRONG_CODE', `Wrong code. ${CODE_ATTEMPTS - used} attempt(s) left.`, 'code');
        }
        const done = await q.query(
          `UPDATE pay_settlement_addresses SET status = 'CONFIRMED', code_hash = NULL, active_at = $2, updated_at = $3
            WHERE id = $1 AND status = 'PENDING_CODE' RETURNING *`,
          [id, now + COOLING_OFF_MS, now],
        );
        return ok(done.rows[0]!);
      });
      return res.ok ? ok(toAddress(res.value)) : res;
    },

    /** Removes an address at once; automatic settlement to it stops. Settlements already asked for go on. */
    async removeAddress(merchantId: string, id: string): Promise<Result<SettlementAddress, SettlementError>> {
      const now = clock.now();
      const r = await db.tx(async (q) => {
        const moved = (
          await q.query(
            `UPDATE pay_settlement_addresses SET status = 'REMOVED', code_hash = NULL, updated_at = $3
              WHERE id = $1 AND merchant_id = $2 AND status IN ('PENDING_CODE', 'CONFIRMED') RETURNING *`,
            [id, merchantId, now],
          )
        ).rows[0];
        if (moved)
          await q.query(
            `UPDATE pay_settlement_auto SET enabled = false, updated_at = $2 WHERE address_id = $1 AND enabled`,
            [id, now],
          );
        return moved;
      });
      if (!r) return err('ADDRESS_NOT_FOUND', 'No such address on the whitelist.');
      return ok(toAddress(r));
    },

    quote,

    /**
     * Records a settlement (idempotent per merchant and request key) and drives it: the chain holds the amount and fee
     * in its transaction, which checks the balance; an amount the balance no longer covers ends REJECTED with nothing
     * held.
     */
    async withdraw(
      merchantId: string,
      input: { addressId: string; amount: string; requestKey: string; source: 'DASHBOARD' | 'ADMIN' },
    ): Promise<Result<Settlement, SettlementError>> {
      const existing = (
        await db.query(`SELECT * FROM pay_settlements WHERE merchant_id = $1 AND request_key = $2`, [
          merchantId,
          input.requestKey,
        ])
      ).rows[0];
      if (existing) {
        const s = toSettlement(existing);
        if (
          s.addressId !== input.addressId ||
          !isDecimalString(input.amount) ||
          !new Decimal(input.amount).eq(s.amount)
        )
          return err('REQUEST_KEY_REUSED', 'This request key was used for another withdrawal.');
        return ok(s);
      }
      const qt = await quote(merchantId, input.addressId, input.amount);
      if (!qt.ok) return qt;
      const id = deps.ids.next().toString();
      const now = clock.now();
      const ins = await db.query(
        `INSERT INTO pay_settlements (id, merchant_id, request_key, address_id, asset, network, amount, fee, source,
          status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'REQUESTED', $10, $10)
         ON CONFLICT (merchant_id, request_key) DO NOTHING RETURNING id`,
        [
          id,
          merchantId,
          input.requestKey,
          input.addressId,
          qt.value.address.asset,
          qt.value.address.network,
          qt.value.amount,
          qt.value.fee,
          input.source,
          now,
        ],
      );
      // A concurrent replay of the same key made it first: answer with that one.
      if (ins.rows.length === 0) return this.withdraw(merchantId, input);
      return ok((await advance(id))!);
    },

    /**
     * The operator stops a settlement that has not reached the chain yet; later the chain's own outcome decides. It
     * takes the same lease as the step that asks the chain, and a settlement whose withdrawal the chain already has (a
     * step that died after asking) is followed, not cancelled: its money is held and will go out.
     */
    async cancel(id: string): Promise<Result<Settlement, SettlementError>> {
      const s = await load(id);
      if (!s) return err('SETTLEMENT_NOT_FOUND', 'No such settlement.');
      const lease = Date.now() + LEASE_MS;
      const leased =
        s.status === 'REQUESTED' &&
        (
          await db.query(
            `UPDATE pay_settlements SET lease_until = $2 WHERE id = $1 AND status = 'REQUESTED'
              AND (lease_until IS NULL OR lease_until < $3) RETURNING id`,
            [id, lease, Date.now()],
          )
        ).rows.length === 1;
      const sent = leased && (await chain.withdrawals.getByRef(settleRef(id)));
      if (sent) {
        await transition(db, id, 'REQUESTED', 'WITHDRAWING', { withdrawal_id: sent.id });
        return err('NOT_CANCELLABLE', 'The withdrawal has already been handed to the chain; it cannot be cancelled.');
      }
      const moved =
        leased &&
        (
          await db.query(
            `UPDATE pay_settlements SET status = 'CANCELLED', failure = 'cancelled by the operator', updated_at = $2,
              lease_until = NULL WHERE id = $1 AND status = 'REQUESTED' AND lease_until = $3 RETURNING id`,
            [id, clock.now(), lease],
          )
        ).rows.length === 1;
      if (!moved)
        return err('NOT_CANCELLABLE', `The settlement is ${(await load(id))!.status}; it cannot be cancelled.`);
      return ok((await load(id))!);
    },

    get: load,
    advance,

    /** The chain settled a withdrawal (outbox): the settlement follows at once instead of at the worker's next tick. */
    async onWithdrawalSettled(e: WithdrawalSettledEvent) {
      if (e.ref.startsWith(SETTLE_REF)) await advance(e.ref.slice(SETTLE_REF.length));
    },
    view,

    async find(merchantId: string, id: string) {
      const s = await load(id);
      return s && s.merchantId === merchantId ? view(s) : null;
    },

    async history(merchantId: string, limit = 50): Promise<SettlementView[]> {
      const rows = (
        await db.query(
          `SELECT * FROM pay_settlements WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
          [merchantId, limit],
        )
      ).rows;
      return Promise.all(rows.map((r) => view(toSettlement(r))));
    },

    async listAuto(merchantId: string): Promise<AutoSetting[]> {
      return (
        await db.query(`SELECT * FROM pay_settlement_auto WHERE merchant_id = $1 ORDER BY asset, network`, [merchantId])
      ).rows.map(toAuto);
    },

    /** Sets (or replaces) the automatic settlement of one asset and network to one of the merchant's addresses. */
    async setAuto(
      merchantId: string,
      input: { addressId: string; mode: AutoMode; threshold?: string | null; enabled: boolean },
    ): Promise<Result<AutoSetting, SettlementError>> {
      const a = await addressRow(db, merchantId, input.addressId);
      if (!a || !['PENDING_CODE', 'CONFIRMED'].includes(a.status))
        return err('ADDRESS_NOT_FOUND', 'Choose one of your whitelisted addresses.', 'addressId');
      if (input.enabled && addressStatus(a, clock.now()) !== 'ACTIVE')
        return err('ADDRESS_NOT_ACTIVE', 'The address is not active yet (code or cooling-off period).', 'addressId');
      let threshold: string | null = null;
      if (input.mode === 'THRESHOLD') {
        if (!input.threshold || !isDecimalString(input.threshold) || !new Decimal(input.threshold).gt(0))
          return err('INVALID_THRESHOLD', 'Give a positive threshold amount.', 'threshold');
        threshold = new Decimal(input.threshold).toFixed();
        // Below what one withdrawal can carry, every tick would find the balance "above" it and send nothing.
        const an = findAssetNetwork(a.asset, a.network)!;
        const least = new Decimal(an.withdrawMin).plus(an.withdrawFee);
        if (new Decimal(threshold).lt(least))
          return err(
            'INVALID_THRESHOLD',
            `The threshold must be at least ${least.toFixed()} ${a.asset} (the smallest withdrawal plus its fee).`,
            'threshold',
          );
      }
      const now = clock.now();
      const r = await db.query(
        `INSERT INTO pay_settlement_auto (merchant_id, asset, network, mode, threshold, address_id, enabled, next_due_at,
          updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (merchant_id, asset, network) DO UPDATE SET mode = $4, threshold = $5, address_id = $6,
          enabled = $7, next_due_at = $8, updated_at = $9 RETURNING *`,
        [
          merchantId,
          a.asset,
          a.network,
          input.mode,
          threshold,
          a.id,
          input.enabled,
          input.mode === 'DAILY' ? nextMidnight(now) : 0,
          now,
        ],
      );
      return ok(toAuto(r.rows[0]!));
    },

    /** Worker tick: due automatic settlements, then every open settlement (resumed after a crash, chain followed). */
    async runOnce(): Promise<number> {
      let n = 0;
      const due = (
        await db.query(
          `SELECT * FROM pay_settlement_auto WHERE enabled AND (mode = 'THRESHOLD' OR next_due_at <= $1) LIMIT 100`,
          [clock.now()],
        )
      ).rows;
      for (const r of due) if (await runAuto(r)) n++;
      const open = (
        await db.query<{ id: string; status: SettlementStatus; updated_at: bigint }>(
          `SELECT id, status, updated_at FROM pay_settlements WHERE status IN ('REQUESTED', 'WITHDRAWING')
            AND (lease_until IS NULL OR lease_until < $1) ORDER BY updated_at LIMIT 200`,
          [Date.now()],
        )
      ).rows;
      for (const r of open) {
        const after = await advance(r.id);
        if (after && (after.status !== r.status || after.updatedAt !== Number(r.updated_at))) n++;
      }
      return n;
    },

    /** The asset and network pairs a merchant can whitelist addresses on here. */
    assetNetworks() {
      return ASSET_NETWORKS.filter((an) => an.withdrawEnabled && chain.hasAdapter(an.network));
    },
  };
}

export type SettlementService = ReturnType<typeof createSettlementService>;
