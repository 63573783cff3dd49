import type { Clock } from '../platform/clock.ts';
import type { Db, DbRow, Queryable } from '../platform/db/client.ts';
import { catchDomain, DomainError, err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import { platformAccount, type Ledger, type OwnerType } from '../platform/ledger/service.ts';
import { Decimal, isDecimalString } from '../platform/money.ts';
import { validateDestination } from './address.ts';
import { bookNetworkFee, hotWalletAccount } from './hotwallet.ts';
import { findAssetNetwork, networkInfo, NETWORKS } from './networks.ts';
import { allocateNonce } from './nonces.ts';
import type { ChainAdapter, TxLookup } from './port.ts';

/**
 * Withdrawals: ledger hold → signed transaction recorded (hash stored before broadcast) → broadcast →
 * confirming (N blocks) → completed (hold posted), or failed with a reason (hold kept for a retry, voided on cancel).
 * A hot wallet too short to pay, or a node that does not answer, is not a failure: the withdrawal waits in `requested`
 * with a `waitingReason` and is prepared again on every worker tick, so it proceeds by itself once the operator tops
 * the wallet up or the node is back.
 *
 * Never twice: a withdrawal has at most one live transaction. Its signed bytes are stored before they are
 * broadcast, so after a crash the very same transaction (same nonce, same hash) is looked up and, if the
 * chain does not know it, re-broadcast; a new transaction is only signed once the previous one is final
 * (reverted, or its nonce consumed by something else).
 */
type WithdrawalStatus = 'requested' | 'signed' | 'broadcast' | 'confirming' | 'completed' | 'failed' | 'cancelled';
type FailureReason =
  | 'INSUFFICIENT_HOT_WALLET_FUNDS'
  | 'RPC_UNREACHABLE'
  | 'GAS_ESTIMATION_FAILED'
  | 'ASSET_NOT_SUPPORTED'
  | 'REVERTED'
  | 'NONCE_ALREADY_USED';
type WithdrawalErrorCode =
  | 'UNSUPPORTED_NETWORK'
  | 'INVALID_ADDRESS'
  | 'WRONG_NETWORK'
  | 'INVALID_MEMO'
  | 'NETWORK_UNAVAILABLE'
  | 'WITHDRAW_DISABLED'
  | 'INVALID_AMOUNT'
  | 'AMOUNT_OUT_OF_LIMIT'
  | 'INSUFFICIENT_FUNDS'
  | 'WITHDRAWAL_NOT_FOUND'
  | 'NOT_RETRYABLE'
  | 'NOT_CANCELLABLE';

/** Preparation failures that pass by themselves (the operator tops the wallet up, the node comes back): wait. */
const WAIT_REASONS = ['INSUFFICIENT_HOT_WALLET_FUNDS', 'RPC_UNREACHABLE'] as const;
const isWaitReason = (r: string): r is (typeof WAIT_REASONS)[number] => (WAIT_REASONS as readonly string[]).includes(r);

/** Which status may follow which: every transition is one conditional update from one of these. */
const TRANSITIONS: Record<WithdrawalStatus, WithdrawalStatus[]> = {
  requested: ['signed', 'failed'],
  signed: ['broadcast', 'failed'],
  broadcast: ['confirming', 'completed', 'failed'],
  confirming: ['broadcast', 'completed', 'failed'],
  failed: ['requested', 'confirming', 'cancelled'],
  completed: [],
  cancelled: [],
};
const ACTIVE: WithdrawalStatus[] = ['requested', 'signed', 'broadcast', 'confirming'];

export interface Withdrawal {
  id: string;
  ref: string;
  ownerType: OwnerType;
  ownerId: string;
  asset: string;
  network: string;
  address: string;
  memo: string;
  amount: string;
  status: WithdrawalStatus;
  simulated: boolean;
  attempts: number;
  txHash: string | null;
  confirmations: number;
  confirmationsRequired: number;
  failureReason: FailureReason | null;
  /**
   * Why a `requested` withdrawal is not moving yet (INSUFFICIENT_HOT_WALLET_FUNDS, RPC_UNREACHABLE); null once it is
   * signed.
   */
  waitingReason: FailureReason | null;
  lastError: string | null;
  /** The network fee the owner pays beside the amount (held as `wdfee:<id>`); '0' when none. */
  fee: string;
  /** Where the outcome is announced (null: WITHDRAWAL_SETTLED_TOPIC). */
  notifyTopic: string | null;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
}

interface WithdrawalRequest {
  /** Caller's idempotency key: the same ref returns the same withdrawal. */
  ref: string;
  ownerType: OwnerType;
  ownerId: string;
  asset: string;
  network: string;
  address: string;
  memo?: string;
  /** Amount delivered to the address. */
  amount: string;
  /**
   * A network fee the owner pays on top of the amount: held from the owner in the same transaction as the amount
   * (`wdfee:<id>`, to the platform's network-fee revenue), posted on completion, voided on cancel.
   */
  fee?: string;
  /**
   * The platform moving its own coins (a sweep's gas top-up to a deposit address): the registry's customer limits
   * (minimum, maximum, multiple) do not apply.
   */
  internal?: boolean;
  /**
   * The outbox topic the outcome is announced on (WithdrawalSettledEvent); default WITHDRAWAL_SETTLED_TOPIC. An outbox
   * topic has one handler, so each domain that asks for withdrawals names its own.
   */
  notifyTopic?: string;
}

/**
 * Written to the outbox in the transaction that completes, fails or cancels a withdrawal, so the domain that asked
 * for it (e.g. the Connect buy flow, by `ref`) learns the outcome without the chain knowing about it.
 */
export const WITHDRAWAL_SETTLED_TOPIC = 'chain.withdrawal.settled';
export interface WithdrawalSettledEvent {
  withdrawalId: string;
  ref: string;
  status: WithdrawalStatus;
}

/** Points where a test can inject a crash (the process is killed there). */
export interface WithdrawalFaults {
  afterBroadcast?(w: Withdrawal): void;
}

interface Withdrawals {
  request(r: WithdrawalRequest): Promise<Result<Withdrawal, WithdrawalErrorCode>>;
  /** Advances one withdrawal as far as it can go now; returns whether anything changed. */
  process(id: string): Promise<boolean>;
  retry(id: string): Promise<Result<Withdrawal, WithdrawalErrorCode>>;
  cancel(id: string): Promise<Result<Withdrawal, WithdrawalErrorCode>>;
  get(id: string): Promise<Withdrawal | null>;
  getByRef(ref: string): Promise<Withdrawal | null>;
  /** Worker tick: advances every active withdrawal; returns how many changed. */
  runOnce(): Promise<number>;
  hasActive(): Promise<boolean>;
}

const REBROADCAST_AFTER_MS = 30_000;

function toWithdrawal(r: DbRow): Withdrawal {
  return {
    id: r.id,
    ref: r.ref,
    ownerType: r.owner_type,
    ownerId: r.owner_id,
    asset: r.asset,
    network: r.network,
    address: r.address,
    memo: r.memo,
    amount: new Decimal(r.amount).toFixed(),
    status: r.status,
    simulated: r.simulated,
    attempts: r.attempts,
    txHash: r.tx_hash,
    confirmations: r.confirmations,
    confirmationsRequired: NETWORKS[r.network]?.confirmations ?? 1,
    failureReason: r.failure_reason,
    waitingReason: r.waiting_reason ?? null,
    lastError: r.last_error,
    fee: new Decimal(r.fee ?? 0).toFixed(),
    notifyTopic: r.notify_topic ?? null,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    completedAt: r.completed_at === null ? null : Number(r.completed_at),
  };
}

export function createWithdrawals(deps: {
  db: Db;
  ledger: Ledger;
  clock: Clock;
  ids: IdGenerator;
  /** Resolves the adapter of a network (starting the chain if needed); undefined when the network has none. */
  adapter(network: string): Promise<ChainAdapter | undefined>;
  /** Networks with an adapter, without starting anything. */
  hasAdapter(network: string): boolean;
  /** Where settled withdrawals are announced (WITHDRAWAL_SETTLED_TOPIC); without one, nobody is told. */
  outbox?: Outbox;
  faults?: WithdrawalFaults;
}): Withdrawals {
  const { db, ledger, clock } = deps;

  const load = async (q: Queryable, id: string) => {
    const r = (await q.query(`SELECT * FROM chain_withdrawals WHERE id = $1`, [id])).rows[0];
    return r ? toWithdrawal(r) : null;
  };

  /**
   * The one way a status changes: a conditional update from the expected status. Returns the row or null if it moved.
   */
  async function transition(
    q: Queryable,
    id: string,
    from: WithdrawalStatus,
    to: WithdrawalStatus,
    set: Record<string, unknown> = {},
  ) {
    if (!TRANSITIONS[from].includes(to)) throw new Error(`illegal withdrawal transition ${from} → ${to}`);
    const cols = Object.keys(set);
    const assignments = cols.map((c, i) => `${c} = $${i + 5}`);
    const r = await q.query(
      `UPDATE chain_withdrawals SET status = $3,
        updated_at = $4${assignments.length ? ', ' + assignments.join(', ') : ''}
       WHERE id = $1 AND status = $2 RETURNING *`,
      [id, from, to, clock.now(), ...cols.map((c) => set[c])],
    );
    return r.rows[0] ? toWithdrawal(r.rows[0]) : null;
  }

  async function settle(q: Queryable, w: Withdrawal) {
    const event: WithdrawalSettledEvent = { withdrawalId: w.id, ref: w.ref, status: w.status };
    await deps.outbox?.enqueue(q, { topic: w.notifyTopic ?? WITHDRAWAL_SETTLED_TOPIC, payload: event });
  }

  /** `mined`: the transaction is in a block all the same (REVERTED), so its gas is booked with the failure. */
  async function fail(
    from: WithdrawalStatus,
    w: Withdrawal,
    reason: FailureReason,
    message: string,
    txStatus?: 'reverted' | 'dropped',
    mined?: { fee?: string },
  ) {
    await db.tx(async (q) => {
      const moved = await transition(q, w.id, from, 'failed', {
        failure_reason: reason,
        last_error: message.slice(0, 500),
      });
      if (!moved) return;
      if (txStatus && w.txHash)
        await q.query(`UPDATE chain_txs SET status = $3 WHERE network = $1 AND hash = $2`, [
          w.network,
          w.txHash,
          txStatus,
        ]);
      if (mined && w.txHash)
        await bookNetworkFee(ledger, q, { network: w.network, hash: w.txHash, fee: mined.fee, withdrawalId: w.id });
      await settle(q, moved);
    });
    return true;
  }

  /**
   * The hot wallet cannot pay this one now, or the node does not answer: it stays `requested` (the hold stays too) and
   * the worker prepares it again on its next tick. Only the reason is written, so it changes nothing else; returns
   * false (no progress).
   */
  async function wait(w: Withdrawal, reason: (typeof WAIT_REASONS)[number], message: string) {
    await db.query(
      `UPDATE chain_withdrawals SET waiting_reason = $4, last_error = $2, updated_at = $3
        WHERE id = $1 AND status = 'requested'`,
      [w.id, message.slice(0, 500), clock.now(), reason],
    );
    return false;
  }

  async function noteError(w: Withdrawal, message: string) {
    await db.query(`UPDATE chain_withdrawals SET last_error = $2, updated_at = $3 WHERE id = $1`, [
      w.id,
      message.slice(0, 500),
      clock.now(),
    ]);
  }

  async function currentTx(w: Withdrawal) {
    const r = (
      await db.query<{ hash: string; raw: string; broadcast_at: bigint | null; status: string }>(
        `SELECT hash, raw, broadcast_at, status FROM chain_txs WHERE withdrawal_id = $1 AND attempt = $2`,
        [w.id, w.attempts],
      )
    ).rows[0];
    return r
      ? {
          hash: r.hash,
          raw: r.raw,
          broadcastAt: r.broadcast_at === null ? null : Number(r.broadcast_at),
          status: r.status,
        }
      : null;
  }

  async function markBroadcast(w: Withdrawal) {
    await db.tx(async (q) => {
      const moved = await transition(q, w.id, 'signed', 'broadcast', { last_error: null });
      if (moved) {
        await q.query(
          `UPDATE chain_txs SET status = 'broadcast', broadcast_at = COALESCE(broadcast_at, $3) WHERE network = $1
            AND hash = $2`,
          [w.network, w.txHash, clock.now()],
        );
      }
    });
    return true;
  }

  /** Applies what the chain says about the recorded transaction of a broadcast/confirming withdrawal. */
  async function applyLookup(w: Withdrawal, from: 'broadcast' | 'confirming', look: TxLookup): Promise<boolean> {
    if (look.state === 'mined' && !look.success)
      return fail(
        from,
        w,
        'REVERTED',
        `transaction ${w.txHash} reverted in block ${look.blockNumber}`,
        'reverted',
        look,
      );
    if (look.state === 'mined') {
      const required = networkInfo(w.network).confirmations;
      if (look.confirmations >= required) {
        return db.tx(async (q) => {
          const done = await transition(q, w.id, from, 'completed', {
            confirmations: look.confirmations,
            block_number: look.blockNumber,
            completed_at: clock.now(),
            last_error: null,
          });
          if (!done) return false;
          await q.query(`UPDATE chain_txs SET status = 'mined' WHERE network = $1 AND hash = $2`, [
            w.network,
            w.txHash,
          ]);
          // The hold moves the amount out of the hot wallet's account; the gas is booked with it.
          await ledger.postHold(q, `wd:${w.id}`);
          if (new Decimal(w.fee).gt(0)) await ledger.postHold(q, `wdfee:${w.id}`);
          await bookNetworkFee(ledger, q, { network: w.network, hash: w.txHash!, fee: look.fee, withdrawalId: w.id });
          await settle(q, done);
          return true;
        });
      }
      if (from === 'broadcast')
        return (
          (await transition(db, w.id, 'broadcast', 'confirming', {
            confirmations: look.confirmations,
            block_number: look.blockNumber,
          })) !== null
        );
      if (look.confirmations === w.confirmations) return false;
      await db.query(
        `UPDATE chain_withdrawals SET confirmations = $2, block_number = $3, updated_at = $4 WHERE id = $1
          AND status = 'confirming'`,
        [w.id, look.confirmations, look.blockNumber, clock.now()],
      );
      return true;
    }
    // A confirming transaction that is no longer in a block was reorganised out: wait for it (or re-send the same
    // bytes) again.
    if (from === 'confirming')
      return (await transition(db, w.id, 'confirming', 'broadcast', { confirmations: 0, block_number: null })) !== null;
    return false;
  }

  async function step(id: string): Promise<boolean> {
    const w = await load(db, id);
    if (!w || !ACTIVE.includes(w.status)) return false;
    const adapter = await deps.adapter(w.network);
    if (!adapter) return false;

    if (w.status === 'requested') {
      const attempt = w.attempts + 1;
      const prepared = await adapter.prepare({
        withdrawalId: w.id,
        attempt,
        asset: w.asset,
        address: w.address,
        memo: w.memo,
        amount: w.amount,
      });
      if (!prepared.ok && isWaitReason(prepared.reason)) return wait(w, prepared.reason, prepared.message);
      if (!prepared.ok) return fail('requested', w, prepared.reason, prepared.message);
      const chainNonce = adapter.hotAddress ? await adapter.chainNonce() : null;
      return db.tx(async (q) => {
        const signed = await transition(q, w.id, 'requested', 'signed', {
          attempts: attempt,
          failure_reason: null,
          waiting_reason: null,
          last_error: null,
        });
        if (!signed) return false;
        let nonce: number | null = null;
        if (adapter.hotAddress) {
          nonce = await allocateNonce(q, w.network, adapter.hotAddress, chainNonce!);
        }
        const tx = await adapter.sign(prepared.plan, nonce);
        await q.query(
          `INSERT INTO chain_txs (network, hash, withdrawal_id, attempt, from_address, nonce, raw, status, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'signed', $8)`,
          [w.network, tx.hash, w.id, attempt, adapter.hotAddress ?? 'simulated', nonce, tx.raw, clock.now()],
        );
        await q.query(`UPDATE chain_withdrawals SET tx_hash = $2 WHERE id = $1`, [w.id, tx.hash]);
        return true;
      });
    }

    const tx = await currentTx(w);
    if (!tx) throw new Error(`withdrawal ${w.id} in ${w.status} has no recorded transaction`);

    if (w.status === 'signed') {
      // After a crash the transaction may already be out: look first, send only if the chain does not know it.
      const before = await adapter.lookup(tx);
      if (before.state !== 'unknown') return markBroadcast(w);
      const sent = await adapter.broadcast(tx.raw);
      deps.faults?.afterBroadcast?.(w);
      if (sent.ok) return markBroadcast(w);
      if (sent.reason === 'NONCE_ALREADY_USED') {
        const after = await adapter.lookup(tx);
        if (after.state !== 'unknown') return markBroadcast(w);
        // Its nonce went to another transaction, so this one can never be mined: final, safe to sign anew on retry.
        return fail('signed', w, 'NONCE_ALREADY_USED', sent.message, 'dropped');
      }
      // Rejected or unreachable: keep the same signed bytes and try again later (a new nonce would leave a gap).
      await noteError(w, `${sent.reason}: ${sent.message}`);
      return false;
    }

    const look = await adapter.lookup(tx);
    if (
      look.state === 'unknown' &&
      w.status === 'broadcast' &&
      tx.broadcastAt !== null &&
      clock.now() - tx.broadcastAt > REBROADCAST_AFTER_MS
    ) {
      const again = await adapter.broadcast(tx.raw);
      if (!again.ok && again.reason === 'NONCE_ALREADY_USED' && (await adapter.lookup(tx)).state === 'unknown') {
        return fail('broadcast', w, 'NONCE_ALREADY_USED', again.message, 'dropped');
      }
      await db.query(`UPDATE chain_txs SET broadcast_at = $3 WHERE network = $1 AND hash = $2`, [
        w.network,
        tx.hash,
        clock.now(),
      ]);
      return false;
    }
    return applyLookup(w, w.status as 'broadcast' | 'confirming', look);
  }

  async function process(id: string) {
    let changed = false;
    // Bounded: requested → signed → broadcast → confirming → completed is at most four moves.
    for (let i = 0; i < 5; i++) {
      if (!(await step(id))) break;
      changed = true;
    }
    return changed;
  }

  return {
    async request(r) {
      // A ref already queued answers with its withdrawal, whatever the settings are now (a caller resuming after a
      // crash
      // must not be told a live withdrawal could not be made).
      const queued = await this.getByRef(r.ref);
      if (queued) return ok(queued);
      const an = findAssetNetwork(r.asset, r.network);
      if (!an) return err('UNSUPPORTED_NETWORK', `${r.asset} is not available on network ${r.network}`, 'network');
      if (!an.withdrawEnabled)
        return err('WITHDRAW_DISABLED', `withdrawals of ${r.asset} on ${r.network} are suspended`);
      if (!deps.hasAdapter(r.network))
        return err('NETWORK_UNAVAILABLE', `no adapter is configured for network ${r.network}`);
      const dest = validateDestination(r.network, r.address, r.memo);
      if (!dest.ok) return dest;
      if (!isDecimalString(r.amount) || !new Decimal(r.amount).gt(0))
        return err('INVALID_AMOUNT', 'amount must be a positive decimal string', 'amount');
      const amount = new Decimal(r.amount);
      const fee = r.fee ?? '0';
      if (!isDecimalString(fee) || new Decimal(fee).lt(0))
        return err('INVALID_AMOUNT', 'fee must be a non-negative decimal string', 'fee');
      if (!r.internal && !amount.mod(an.withdrawIntegerMultiple).eq(0))
        return err('INVALID_AMOUNT', `amount must be a multiple of ${an.withdrawIntegerMultiple}`, 'amount');
      if (!r.internal && (amount.lt(an.withdrawMin) || amount.gt(an.withdrawMax))) {
        return err(
          'AMOUNT_OUT_OF_LIMIT',
          `amount must be between ${an.withdrawMin} and ${an.withdrawMax} ${r.asset}`,
          'amount',
        );
      }
      const id = deps.ids.next().toString();
      const simulated = networkInfo(r.network).family !== 'evm';
      const res = await catchDomain(() =>
        db.tx(async (q) => {
          const ins = await q.query(
            `INSERT INTO chain_withdrawals (id, ref, owner_type, owner_id, asset, network, address, memo, amount,
              status, hold_id, simulated, created_at, updated_at, fee, notify_topic)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'requested', $10, $11, $12, $12, $13, $14) ON CONFLICT (ref)
           DO NOTHING RETURNING *`,
            [
              id,
              r.ref,
              r.ownerType,
              r.ownerId,
              r.asset,
              r.network,
              dest.value.address,
              dest.value.memo,
              amount.toFixed(),
              `wd:${id}`,
              simulated,
              clock.now(),
              new Decimal(fee).toFixed(),
              r.notifyTopic ?? null,
            ],
          );
          if (!ins.rows[0]) return (await q.query(`SELECT * FROM chain_withdrawals WHERE ref = $1`, [r.ref])).rows[0];
          await ledger.hold(q, {
            id: `wd:${id}`,
            debit: { ownerType: r.ownerType, ownerId: r.ownerId, asset: r.asset },
            credit: hotWalletAccount(r.network, r.asset),
            amount: amount.toFixed(),
            kind: 'withdrawal',
            ref: id,
          });
          if (new Decimal(fee).gt(0))
            await ledger.hold(q, {
              id: `wdfee:${id}`,
              debit: { ownerType: r.ownerType, ownerId: r.ownerId, asset: r.asset },
              credit: platformAccount('revenue_network_fee', r.asset),
              amount: new Decimal(fee).toFixed(),
              kind: 'withdrawal_fee',
              ref: id,
            });
          return ins.rows[0];
        }),
      );
      if (!res.ok) return err(res.code === 'INSUFFICIENT_FUNDS' ? 'INSUFFICIENT_FUNDS' : 'INVALID_AMOUNT', res.message);
      return ok(toWithdrawal(res.value));
    },

    process,

    async retry(id) {
      const w = await load(db, id);
      if (!w) return err('WITHDRAWAL_NOT_FOUND', `withdrawal ${id} not found`);
      if (w.status !== 'failed')
        return err('NOT_RETRYABLE', `withdrawal is ${w.status}; only a failed withdrawal can be retried`);
      const adapter = await deps.adapter(w.network);
      const tx = await currentTx(w);
      let reverted: { hash: string; fee?: string } | null = null;
      if (adapter && tx) {
        // Look the recorded transaction up first: if it made it into a block after all, follow it instead of sending
        // again.
        const look = await adapter.lookup(tx);
        if (look.state === 'mined' && look.success) {
          await transition(db, id, 'failed', 'confirming', {
            failure_reason: null,
            confirmations: look.confirmations,
            block_number: look.blockNumber,
          });
          await process(id);
          return ok((await load(db, id))!);
        }
        // In a block but reverted: its gas is spent (normally booked already when it failed as REVERTED; by hash, so
        // once).
        if (look.state === 'mined') reverted = { hash: tx.hash, fee: look.fee };
      }
      const moved = await db.tx(async (q) => {
        const m = await transition(q, id, 'failed', 'requested', { failure_reason: null, last_error: null });
        if (m && reverted)
          await bookNetworkFee(ledger, q, {
            network: w.network,
            hash: reverted.hash,
            fee: reverted.fee,
            withdrawalId: id,
          });
        return m;
      });
      if (!moved) return err('NOT_RETRYABLE', 'withdrawal changed concurrently');
      await process(id);
      return ok((await load(db, id))!);
    },

    async cancel(id) {
      const res = await catchDomain(() =>
        db.tx(async (q) => {
          const w = await transition(q, id, 'failed', 'cancelled', {});
          if (!w) throw new DomainError('NOT_CANCELLABLE', 'only a failed withdrawal can be cancelled');
          await ledger.voidHold(q, `wd:${id}`);
          if (new Decimal(w.fee).gt(0)) await ledger.voidHold(q, `wdfee:${id}`);
          await settle(q, w);
          return w;
        }),
      );
      if (!res.ok) {
        if (!(await load(db, id))) return err('WITHDRAWAL_NOT_FOUND', `withdrawal ${id} not found`);
        return err('NOT_CANCELLABLE', res.message);
      }
      return ok(res.value);
    },

    get: (id) => load(db, id),
    async getByRef(ref) {
      const r = (await db.query(`SELECT * FROM chain_withdrawals WHERE ref = $1`, [ref])).rows[0];
      return r ? toWithdrawal(r) : null;
    },

    async runOnce() {
      const rows = (
        await db.query<{ id: string }>(
          `SELECT id FROM chain_withdrawals WHERE status IN ('requested', 'signed', 'broadcast', 'confirming')
            ORDER BY updated_at LIMIT 200`,
        )
      ).rows;
      let changed = 0;
      for (const r of rows) if (await process(r.id)) changed++;
      return changed;
    },

    async hasActive() {
      return (
        (
          await db.query(
            `SELECT 1 FROM chain_withdrawals WHERE status IN ('requested', 'signed', 'broadcast', 'confirming')
              LIMIT 1`,
          )
        ).rows.length > 0
      );
    },
  };
}
