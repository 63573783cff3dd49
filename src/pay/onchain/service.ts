import { parseUnits } from 'viem';
import { DEPOSIT_CREDITED_TOPIC, type DepositCreditedEvent } from '../../chain/deposits.ts';
import { networkInfo } from '../../chain/networks.ts';
import type { ChainService } from '../../chain/service.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db, DbRow, Queryable } from '../../platform/db/client.ts';
import { err, ok, type Result } from '../../platform/errors.ts';
import type { AccountRef, Balance, Ledger } from '../../platform/ledger/service.ts';
import { Decimal } from '../../platform/money.ts';
import type { OutboxHandler } from '../../platform/outbox/service.ts';
import type { Order, OrderService } from '../orders/service.ts';
import { lockOrder } from '../orders/state.ts';

/**
 * Paying a hosted checkout from any wallet (issue #16): the payer picks an asset and an EVM network, the order gets its
 * own deposit address (chain deposit owner `pay_order`, id = prepayId) and a quote in that asset locked until the order
 * expires. The chain's deposit watcher credits each confirmed transfer to the order's escrow account (ledger owner
 * `pay_order`) and announces it (DEPOSIT_CREDITED_TOPIC); `applyDeposit` counts it toward the order in its own
 * transaction, and once the order has received enough it is paid from the escrow through the order service's own
 * payment path (same transitions, same PAY_SUCCESS webhook).
 *
 * The intent is a step machine in the shape of src/chain/withdrawals.ts: AWAITING → PAID | RETURNED, one conditional
 * `transition`, one handler (`advance`, for AWAITING) run by the deposit handler and by the worker (expiry, and
 * resuming after a crash). What the order does not take (surplus, an underpayment at expiry, a late transfer, a
 * transfer in another asset) goes to the payer: to their balance when they were logged in when choosing, else it stays
 * in the escrow account as a refundable credit, listed for the operator and sent back to an address by a chain
 * withdrawal.
 */
export type IntentStatus = 'AWAITING' | 'PAID' | 'RETURNED';
const TRANSITIONS: Record<IntentStatus, readonly IntentStatus[]> = {
  AWAITING: ['PAID', 'RETURNED'],
  PAID: [],
  RETURNED: [],
};

export interface OnchainIntent {
  prepayId: string;
  status: IntentStatus;
  asset: string;
  network: string;
  address: string;
  /** What to send, in `asset`. */
  amount: string;
  price: string;
  payerId: string | null;
  received: string;
  consumed: string | null;
  released: string | null;
  expireTime: number;
  createdAt: number;
  updatedAt: number;
}

/** An asset on a network the order can be paid with from another wallet, and what it costs there. */
export interface OnchainOption {
  asset: string;
  network: string;
  /** null for the network's native coin. */
  contractAddress: string | null;
  decimals: number;
  due: string;
  price: string;
}

export type OnchainError =
  'ORDER_NOT_OPEN' | 'OPTION_UNKNOWN' | 'ALREADY_RECEIVING' | 'INTENT_NOT_FOUND' | 'PAYER_REQUIRED';
export type CreditRefundError = 'INTENT_NOT_FOUND' | 'ORDER_STILL_OPEN' | 'PAYER_CREDITED' | 'NOTHING_TO_REFUND';

const toIntent = (r: DbRow): OnchainIntent => ({
  prepayId: String(r.prepay_id),
  status: r.status,
  asset: r.asset,
  network: r.network,
  address: r.address,
  amount: new Decimal(r.amount).toFixed(),
  price: r.price,
  payerId: r.payer_id === null ? null : String(r.payer_id),
  received: new Decimal(r.received).toFixed(),
  consumed: r.consumed === null ? null : new Decimal(r.consumed).toFixed(),
  released: r.released === null ? null : new Decimal(r.released).toFixed(),
  expireTime: Number(r.expire_time),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const escrow = (prepayId: string, asset: string): AccountRef => ({ ownerType: 'pay_order', ownerId: prepayId, asset });

export function createOnchainPayments(deps: {
  db: Db;
  clock: Clock;
  ledger: Ledger;
  chain: ChainService;
  orders: OrderService;
}) {
  const { db, clock, ledger, chain, orders } = deps;

  const load = async (q: Queryable, prepayId: string, lock = false) => {
    const r = (
      await q.query(`SELECT * FROM pay_onchain_intents WHERE prepay_id = $1${lock ? ' FOR UPDATE' : ''}`, [prepayId])
    ).rows[0];
    return r ? toIntent(r) : null;
  };

  /** The one way an intent's status changes: a conditional update from the expected status; null if it moved. */
  async function transition(
    q: Queryable,
    prepayId: string,
    from: IntentStatus,
    to: IntentStatus,
    set: { consumed?: string; released?: string } = {},
  ) {
    if (!TRANSITIONS[from].includes(to)) throw new Error(`illegal on-chain intent transition ${from} → ${to}`);
    const r = await q.query(
      `UPDATE pay_onchain_intents SET status = $3, updated_at = $4, consumed = COALESCE($5, consumed),
        released = COALESCE($6, released)
       WHERE prepay_id = $1 AND status = $2 RETURNING *`,
      [prepayId, from, to, clock.now(), set.consumed ?? null, set.released ?? null],
    );
    return r.rows[0] ? toIntent(r.rows[0]) : null;
  }

  /**
   * Gives `amount` of the escrow back to the payer: into their balance when known (ledger transfer id keyed by
   * `key`), else it stays in the escrow as a refundable credit.
   */
  async function giveBack(q: Queryable, i: OnchainIntent, asset: string, amount: Decimal.Value, key: string) {
    if (i.payerId === null || !new Decimal(amount).gt(0)) return;
    await ledger.transfer(q, {
      id: `pay.onchain:${i.prepayId}:${key}`,
      debit: escrow(i.prepayId, asset),
      credit: { ownerType: 'payer', ownerId: i.payerId, asset },
      amount: new Decimal(amount).toFixed(),
      kind: 'pay.onchain.credit',
      ref: i.prepayId,
    });
  }

  /**
   * The AWAITING handler, on an intent locked by the caller's transaction: pays the order once enough has been
   * received, or gives everything back once the order is no longer open. Idempotent: a second run finds the intent
   * moved (or nothing to do).
   */
  async function advance(q: Queryable, i: OnchainIntent): Promise<boolean> {
    if (i.status !== 'AWAITING') return false;
    const order = await lockOrder(q, i.prepayId);
    const now = clock.now();
    // PENDING: held for this intent when a covering transfer was seen before expiry (holdSeen); it waits to confirm.
    const held = order !== null && order.status === 'PENDING';
    // A suspended merchant's order is not open: what arrived for it is given back, like a transfer after expiry.
    const open =
      order !== null &&
      ((order.status === 'INITIAL' && order.expireTime > now) || held) &&
      (await orders.merchantAccepts(q, order));
    if (open && new Decimal(i.received).gte(i.amount)) {
      const consumed = i.asset === order.currency ? order.orderAmount : i.amount;
      const txs = (
        await q.query<{ tx_hash: string }>(
          `SELECT DISTINCT tx_hash FROM pay_onchain_receipts WHERE prepay_id = $1 AND applied = 'order'
            ORDER BY tx_hash`,
          [i.prepayId],
        )
      ).rows.map((r) => r.tx_hash);
      const paid = await orders.payFromEscrow(q, i.prepayId, {
        from: escrow(i.prepayId, i.asset),
        paid: consumed,
        price: i.price,
        payerId: i.payerId,
        network: i.network,
        transactions: txs,
      });
      if (!paid) throw new Error(`order ${i.prepayId} was open but could not be claimed`);
      const moved = await transition(q, i.prepayId, 'AWAITING', 'PAID', { consumed: new Decimal(consumed).toFixed() });
      if (!moved) return false;
      await giveBack(q, moved, i.asset, new Decimal(i.received).minus(consumed), 'surplus');
      return true;
    }
    if (open) return false;
    const moved = await transition(q, i.prepayId, 'AWAITING', 'RETURNED', { released: i.received });
    if (!moved) return false;
    await giveBack(q, moved, i.asset, i.received, 'returned');
    return true;
  }

  /**
   * Orders whose transfers, seen in a block but not yet confirmed, cover the amount before expiry: each is held
   * (INITIAL → PENDING) so that it does not expire while they confirm. Orphaned transfers do not count.
   */
  async function holdSeen(limit: number): Promise<number> {
    const awaiting = (
      await db.query<{ prepay_id: string }>(
        `SELECT prepay_id::text AS prepay_id FROM pay_onchain_intents WHERE status = 'AWAITING' AND expire_time > $1
          AND received < amount ORDER BY expire_time LIMIT $2`,
        [clock.now(), limit],
      )
    ).rows;
    let held = 0;
    for (const { prepay_id } of awaiting) {
      const i = await load(db, prepay_id);
      if (!i) continue;
      const seen = (await chain.deposits.list('pay_order', prepay_id))
        .filter((d) => d.status !== 'orphaned' && d.asset === i.asset && d.network === i.network)
        .reduce((sum, d) => sum.plus(d.amount), new Decimal(0));
      if (seen.lt(i.amount)) continue;
      const order = await db.tx(async (q) => {
        const locked = await load(q, prepay_id, true);
        return locked?.status === 'AWAITING' ? orders.holdForOnchain(q, prepay_id) : null;
      });
      if (order) held++;
    }
    return held;
  }

  /** The EVM assets and networks the order can be paid with, each priced (locked once chosen). */
  async function options(o: Order): Promise<OnchainOption[]> {
    const out: OnchainOption[] = [];
    for (const n of await chain.networkList()) {
      if (n.simulated || networkInfo(n.network).family !== 'evm') continue;
      // The running chain's token (the sandbox deploys its own, with its own decimals); the native coin has 18. A
      // network whose node cannot be reached now is not offered.
      const adapter = await chain.evm(n.network).catch(() => null);
      if (!adapter) continue;
      const token = adapter.tokens.get(n.asset);
      if (n.asset !== adapter.nativeAsset && !token) continue;
      const decimals = token?.decimals ?? 18;
      const quoted = orders.quote(o, n.asset, Math.min(8, decimals));
      if (!quoted || !new Decimal(quoted.paid).gt(0)) continue;
      out.push({
        asset: n.asset,
        network: n.network,
        contractAddress: token?.address ?? null,
        decimals,
        due: new Decimal(quoted.paid).toFixed(),
        price: quoted.price,
      });
    }
    return out;
  }

  return {
    options,

    get: (prepayId: string) => load(db, prepayId),

    /**
     * The payer chooses to pay from another wallet in `asset` on `network`. Choosing the same again changes nothing;
     * another choice replaces it only while nothing has been received. Only while the order is open.
     */
    async choose(
      o: Order,
      choice: { asset: string; network: string },
      payerId: string | null,
    ): Promise<Result<OnchainIntent, OnchainError>> {
      const now = clock.now();
      if (o.status !== 'INITIAL' || o.expireTime <= now) return err('ORDER_NOT_OPEN', 'This order is no longer open.');
      // A transfer from another wallet names no payer: an order reserved for one user cannot be paid that way.
      if (!(await orders.onchainAllowed(o)))
        return err('PAYER_REQUIRED', 'This order can only be paid from the Rampart account it is reserved for.');
      const option = (await options(o)).find((x) => x.asset === choice.asset && x.network === choice.network);
      if (!option) return err('OPTION_UNKNOWN', 'Choose one of the listed assets and networks.');
      const { address } = await chain.depositAddress('pay_order', o.prepayId);
      // A transfer already seen on the address (even unconfirmed) fixes the choice: it will be counted in that asset.
      const seen = (await chain.deposits.list('pay_order', o.prepayId)).some((d) => d.status !== 'orphaned');
      return db.tx(async (q) => {
        const ins = await q.query(
          `INSERT INTO pay_onchain_intents (prepay_id, status, asset, network, address, amount, price, payer_id,
            expire_time, created_at, updated_at)
           VALUES ($1, 'AWAITING', $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (prepay_id) DO NOTHING RETURNING *`,
          [o.prepayId, option.asset, option.network, address, option.due, option.price, payerId, o.expireTime, now],
        );
        if (ins.rows[0]) return ok(toIntent(ins.rows[0]));
        const current = (await load(q, o.prepayId, true))!;
        const received = await q.query(`SELECT 1 FROM pay_onchain_receipts WHERE prepay_id = $1 LIMIT 1`, [o.prepayId]);
        const untouched = !seen && received.rows.length === 0;
        const same = current.asset === option.asset && current.network === option.network;
        if (same && !(untouched && payerId !== null && payerId !== current.payerId)) return ok(current);
        if (!untouched)
          return err(
            'ALREADY_RECEIVING',
            `A payment in ${current.asset} on ${current.network} has already reached this order's address.`,
          );
        // Nothing has arrived: the choice (and who is paying, when someone logged in chooses) is the latest one's, so
        // whatever is given back later goes to the person who pays.
        const switched = await q.query(
          `UPDATE pay_onchain_intents SET asset = $2, network = $3, amount = $4, price = $5, updated_at = $6,
            payer_id = COALESCE($7, payer_id)
           WHERE prepay_id = $1 AND status = 'AWAITING' AND received = 0 RETURNING *`,
          [o.prepayId, option.asset, option.network, option.due, option.price, now, payerId],
        );
        if (switched.rows[0]) return ok(toIntent(switched.rows[0]));
        return err(
          'ALREADY_RECEIVING',
          `A payment in ${current.asset} on ${current.network} has already reached this order's address.`,
        );
      });
    },

    /** What the checkout shows: the intent, the transfers seen on its address and what was given back. */
    async progress(prepayId: string) {
      const intent = await load(db, prepayId);
      if (!intent) return null;
      const deposits = await chain.deposits.list('pay_order', prepayId);
      const credits = (
        await db.query(
          `SELECT asset, amount::text AS amount FROM pay_onchain_receipts WHERE prepay_id = $1 AND applied = 'credit'`,
          [prepayId],
        )
      ).rows;
      const remaining = Decimal.max(0, new Decimal(intent.amount).minus(intent.received));
      let returned = new Decimal(0);
      if (intent.status === 'PAID') returned = new Decimal(intent.received).minus(intent.consumed ?? 0);
      if (intent.status === 'RETURNED') returned = new Decimal(intent.released ?? 0);
      return {
        intent,
        remaining: intent.status === 'AWAITING' ? remaining.toFixed() : '0',
        /** Given back in the intent's asset: the surplus, or everything when the order was not paid. */
        returned: returned.toFixed(),
        /** Transfers applied as credit (late, or another asset or network). */
        credits: credits.map((c) => ({ asset: c.asset as string, amount: new Decimal(c.amount).toFixed() })),
        deposits,
      };
    },

    /** EIP-681 payment request for a wallet: the token transfer, or the native value, to the order's address. */
    async paymentUri(i: OnchainIntent): Promise<string> {
      const adapter = await chain.evm(i.network);
      const token = adapter.tokens.get(i.asset);
      if (token)
        return (
          `ethereum:${token.address}@${adapter.chainId}/transfer?address=${i.address}` +
          `&uint256=${parseUnits(i.amount, token.decimals)}`
        );
      return `ethereum:${i.address}@${adapter.chainId}?value=${parseUnits(i.amount, 18)}`;
    },

    /** Outbox handler (DEPOSIT_CREDITED_TOPIC): applies one credited deposit to its order, once. */
    async applyDeposit(e: DepositCreditedEvent): Promise<void> {
      if (e.ownerType !== 'pay_order') return;
      await db.tx(async (q) => {
        const i = await load(q, e.ownerId, true);
        if (!i) throw new Error(`deposit ${e.depositId} to order ${e.ownerId}, which has no on-chain intent`);
        const counts = i.status === 'AWAITING' && e.asset === i.asset && e.network === i.network;
        const ins = await q.query(
          `INSERT INTO pay_onchain_receipts (deposit_id, prepay_id, network, tx_hash, asset, amount, applied,
            created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (deposit_id) DO NOTHING RETURNING deposit_id`,
          [e.depositId, i.prepayId, e.network, e.txHash, e.asset, e.amount, counts ? 'order' : 'credit', clock.now()],
        );
        if (ins.rowCount !== 1) return;
        if (!counts) {
          await giveBack(q, i, e.asset, e.amount, `late:${e.depositId}`);
          return;
        }
        const r = await q.query(
          `UPDATE pay_onchain_intents SET received = received + $2, updated_at = $3 WHERE prepay_id = $1 RETURNING *`,
          [i.prepayId, e.amount, clock.now()],
        );
        await advance(q, toIntent(r.rows[0]));
      });
    },

    /** Worker tick: AWAITING intents whose order expired, or that have enough and were not paid (a crash). */
    async runOnce(limit = 50): Promise<number> {
      let n = await holdSeen(limit);
      const due = (
        await db.query<{ prepay_id: string }>(
          `SELECT prepay_id::text AS prepay_id FROM pay_onchain_intents WHERE status = 'AWAITING'
            AND (expire_time <= $1 OR received >= amount) ORDER BY expire_time LIMIT $2`,
          [clock.now(), limit],
        )
      ).rows;
      for (const { prepay_id } of due) {
        const moved = await db.tx(async (q) => {
          const i = await load(q, prepay_id, true);
          return i ? advance(q, i) : false;
        });
        if (moved) n++;
      }
      return n;
    },

    /**
     * The operator's view of money given back: intents with a surplus, a return or a late transfer, with what their
     * escrow still holds (a refundable credit when nobody was logged in, a merchant's refund of such an order
     * included). The most recent `limit` candidates.
     */
    async credits(limit = 200) {
      const rows = (
        await db.query(
          `SELECT * FROM pay_onchain_intents i WHERE (i.status = 'RETURNED' AND i.released > 0)
            OR (i.status = 'PAID' AND (i.received > i.consumed OR i.payer_id IS NULL))
            OR EXISTS (SELECT 1 FROM pay_onchain_receipts r WHERE r.prepay_id = i.prepay_id AND r.applied = 'credit')
           ORDER BY i.updated_at DESC LIMIT $1`,
          [limit],
        )
      ).rows.map(toIntent);
      const listed = await Promise.all(
        rows.map(async (i) => {
          const late = (
            await db.query(
              `SELECT deposit_id, network, tx_hash, asset, amount::text AS amount, created_at FROM pay_onchain_receipts
                WHERE prepay_id = $1 AND applied = 'credit' ORDER BY created_at`,
              [i.prepayId],
            )
          ).rows.map((r) => ({
            depositId: r.deposit_id as string,
            network: r.network as string,
            txHash: r.tx_hash as string,
            asset: r.asset as string,
            amount: new Decimal(r.amount).toFixed(),
            createdAt: Number(r.created_at),
          }));
          const escrowBalances: Balance[] = await ledger.balances(db, 'pay_order', i.prepayId);
          return {
            ...i,
            creditedTo: i.payerId === null ? ('REFUNDABLE' as const) : ('PAYER_BALANCE' as const),
            lateTransfers: late,
            refundable: escrowBalances.filter((b) => b.posted !== '0' || b.held !== '0'),
            /** Paid exactly and never refunded: nothing was given back. */
            nothingBack:
              i.status === 'PAID' &&
              new Decimal(i.received).eq(i.consumed ?? 0) &&
              late.length === 0 &&
              escrowBalances.every((b) => b.posted === '0' && b.held === '0'),
          };
        }),
      );
      return listed.filter((c) => !c.nothingBack).map(({ nothingBack: _, ...c }) => c);
    },

    /**
     * Sends an order's refundable credit in `asset` (all of it still available) back to an address: a chain
     * withdrawal from the escrow, keyed by the operator's requestId, so a replay answers with the same withdrawal.
     */
    async refundCredit(
      prepayId: string,
      r: { requestId: string; asset: string; network: string; address: string; memo?: string },
    ) {
      const ref = `pay.onchain.refund:${prepayId}:${r.requestId}`;
      const existing = await chain.withdrawals.getByRef(ref);
      if (existing) return ok(existing);
      const i = await load(db, prepayId);
      if (!i) return err('INTENT_NOT_FOUND' as CreditRefundError, 'No on-chain payment for this order.');
      if (i.status === 'AWAITING')
        return err('ORDER_STILL_OPEN' as CreditRefundError, 'The order is still waiting for its payment.');
      if (i.payerId !== null)
        return err('PAYER_CREDITED' as CreditRefundError, "The payer's balance was credited; nothing is held here.");
      const available = (await ledger.balance(db, escrow(prepayId, r.asset))).available;
      if (!new Decimal(available).gt(0))
        return err('NOTHING_TO_REFUND' as CreditRefundError, `Nothing refundable in ${r.asset}.`);
      return chain.withdrawals.request({
        ref,
        ownerType: 'pay_order',
        ownerId: prepayId,
        asset: r.asset,
        network: r.network,
        address: r.address,
        memo: r.memo,
        amount: available,
      });
    },
  };
}

export type OnchainPayments = ReturnType<typeof createOnchainPayments>;

/** The outbox handler of DEPOSIT_CREDITED_TOPIC. */
export function depositCreditedHandler(payments: OnchainPayments): Record<string, OutboxHandler> {
  return {
    [DEPOSIT_CREDITED_TOPIC]: async (row) => {
      await payments.applyDeposit(row.payload as DepositCreditedEvent);
      return { status: 'done' };
    },
  };
}
