import { encodeFunctionData, erc20Abi, formatUnits, keccak256, parseUnits, type Address, type Hex } from 'viem';
import { hdKeyToAccount, type HDKey } from 'viem/accounts';
import type { Clock } from '../platform/clock.ts';
import { onlyRow, type Db, type DbRow, type Queryable } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import { platformAccount, type Ledger } from '../platform/ledger/service.ts';
import { Decimal } from '../platform/money.ts';
import type { EvmAdapter } from './evm.ts';
import { hotWalletAccount } from './hotwallet.ts';
import { findAssetNetwork, networkInfo } from './networks.ts';
import { allocateNonce } from './nonces.ts';
import type { createWithdrawals } from './withdrawals.ts';

/**
 * Sweeps: credited deposits move from their deposit address to the hot wallet, so that what customers pay in funds
 * what the platform pays out (withdrawals, merchant settlement) without the operator topping the hot wallet up.
 *
 *   requested → (token, address short of gas) funding → signed → broadcast → completed
 *                                                   ↘ failed (reverted; its deposits are released for the next sweep)
 *
 * A sweep claims the credited, unswept deposits of one (network, address, asset) in the transaction that creates it
 * (chain_deposits.sweep_id), so a deposit is swept once. An ERC-20 sweep needs gas at the deposit address: the hot
 * wallet sends it through the withdrawal machine (ref `sweep-gas:<id>:<round>`, held from and booked to the network's
 * fee account, since the deposit address will burn it), so that send is never made twice either. The sweep's own
 * transaction is signed with the deposit address's key and stored before broadcast, the same way a withdrawal's is:
 * after a crash the same bytes are looked up and re-sent, never a second transaction.
 *
 * Ledger, in the transaction that completes the sweep: the hot wallet gains what arrived
 * (debit hot_wallet.<NET>, credit chain_wallets); a native sweep's gas came out of the deposited coins
 * (debit network_fees.<NET>, credit chain_wallets). What stays at the address (a native sweep keeps back its maximum
 * gas; the unused part stays) remains on chain_wallets, where the deposit put it.
 */
type SweepStatus = 'requested' | 'funding' | 'signed' | 'broadcast' | 'completed' | 'failed';

const TRANSITIONS: Record<SweepStatus, SweepStatus[]> = {
  requested: ['funding', 'signed'],
  funding: ['signed', 'funding'],
  signed: ['broadcast', 'failed'],
  broadcast: ['completed', 'failed', 'signed'],
  completed: [],
  failed: [],
};
const ACTIVE: SweepStatus[] = ['requested', 'funding', 'signed', 'broadcast'];
/** A token sweep's gas is topped up this many times over, so a small rise in fees does not need a second round. */
const GAS_MARGIN = 2n;
const REBROADCAST_AFTER_MS = 30_000;

export interface Sweep {
  id: string;
  network: string;
  asset: string;
  address: string;
  amount: string;
  status: SweepStatus;
  txHash: string | null;
  confirmations: number;
  lastError: string | null;
  createdAt: number;
  completedAt: number | null;
}

const toSweep = (r: DbRow): Sweep => ({
  id: r.id,
  network: r.network,
  asset: r.asset,
  address: r.address,
  amount: new Decimal(r.amount).toFixed(),
  status: r.status,
  txHash: r.tx_hash,
  confirmations: r.confirmations,
  lastError: r.last_error,
  createdAt: Number(r.created_at),
  completedAt: r.completed_at === null ? null : Number(r.completed_at),
});

/**
 * The least a (network, asset) is swept at: the registry's withdrawal minimum, so a sweep never costs a large share of
 * what it moves.
 */
export const sweepThreshold = (network: string, asset: string) => findAssetNetwork(asset, network)?.withdrawMin ?? null;

export function createSweeps(deps: {
  db: Db;
  ledger: Ledger;
  clock: Clock;
  ids: IdGenerator;
  seed: () => Promise<HDKey>;
  withdrawals: ReturnType<typeof createWithdrawals>;
}) {
  const { db, ledger, clock } = deps;

  async function transition(
    q: Queryable,
    id: string,
    from: SweepStatus,
    to: SweepStatus,
    set: Record<string, unknown> = {},
  ): Promise<DbRow | null> {
    if (!TRANSITIONS[from].includes(to)) throw new Error(`illegal sweep transition ${from} → ${to}`);
    const cols = Object.keys(set);
    const r = await q.query(
      `UPDATE chain_sweeps SET status = $3, updated_at = $4${cols.map((c, i) => `, ${c} = $${i + 5}`).join('')}
        WHERE id = $1 AND status = $2 RETURNING *`,
      [id, from, to, clock.now(), ...cols.map((c) => set[c])],
    );
    return r.rows[0] ?? null;
  }

  const note = (id: string, message: string) =>
    db.query(`UPDATE chain_sweeps SET last_error = $2, updated_at = $3 WHERE id = $1`, [
      id,
      message.slice(0, 500),
      clock.now(),
    ]);

  async function signer(index: number) {
    return hdKeyToAccount(await deps.seed(), { accountIndex: 1, addressIndex: index });
  }

  /**
   * Creates a sweep for every (address, asset) of the network whose credited, unswept deposits reach the threshold.
   */
  async function plan(adapter: EvmAdapter): Promise<number> {
    const network = adapter.network;
    const due = (
      await db.query<{ address: string; asset: string; total: string }>(
        `SELECT address, asset, SUM(amount)::text AS total FROM chain_deposits
          WHERE network = $1 AND status = 'credited' AND sweep_id IS NULL GROUP BY address, asset`,
        [network],
      )
    ).rows;
    let made = 0;
    for (const d of due) {
      const threshold = sweepThreshold(network, d.asset);
      if (threshold === null || new Decimal(d.total).lt(threshold)) continue;
      if (d.asset !== adapter.nativeAsset && !adapter.tokens.has(d.asset)) continue;
      const id = deps.ids.next().toString();
      const created = await db.tx(async (q) => {
        const key = (
          await q.query<{ derivation_index: string }>(
            `SELECT derivation_index FROM chain_deposit_addresses WHERE family = 'evm' AND address = $1`,
            [d.address],
          )
        ).rows[0];
        if (!key) return false;
        // One live sweep per (network, address): the partial unique index refuses a second, which waits its turn.
        const ins = await q.query(
          `INSERT INTO chain_sweeps (id, network, asset, address, derivation_index, amount, status, created_at,
            updated_at)
           VALUES ($1, $2, $3, $4, $5, 1, 'requested', $6, $6) ON CONFLICT DO NOTHING RETURNING id`,
          [id, network, d.asset, d.address, key.derivation_index, clock.now()],
        );
        if (ins.rowCount !== 1) return false;
        const claimed = await q.query<{ amount: string }>(
          `UPDATE chain_deposits SET sweep_id = $1
            WHERE network = $2 AND address = $3 AND asset = $4 AND status = 'credited' AND sweep_id IS NULL
            RETURNING amount`,
          [id, network, d.address, d.asset],
        );
        const total = claimed.rows.reduce((s, r) => s.plus(r.amount), new Decimal(0));
        if (total.lte(0)) throw new Error('sweep claimed nothing');
        await q.query(`UPDATE chain_sweeps SET amount = $2 WHERE id = $1`, [id, total.toFixed()]);
        return true;
      });
      if (created) made++;
    }
    return made;
  }

  /** What the address holds of customers' native deposits, seen or credited and not swept yet (in wei). */
  async function customerNative(adapter: EvmAdapter, network: string, address: string): Promise<bigint> {
    const r = await db.query<{ total: string | null }>(
      `SELECT SUM(d.amount)::text AS total FROM chain_deposits d LEFT JOIN chain_sweeps s ON s.id = d.sweep_id
        WHERE d.network = $1 AND d.address = $2 AND d.asset = $3 AND d.status IN ('pending', 'credited')
          AND (d.sweep_id IS NULL OR s.status <> 'completed')`,
      [network, address, adapter.nativeAsset],
    );
    return parseUnits(new Decimal(r.rows[0]?.total ?? 0).toFixed(), 18);
  }

  /**
   * Signs the sweep's transaction, or asks the hot wallet for gas first when a token sweep's address cannot pay it.
   */
  async function signOrFund(adapter: EvmAdapter, s: DbRow, from: 'requested' | 'funding'): Promise<boolean> {
    const account = await signer(Number(s.derivation_index));
    const hot = adapter.hotAddress as Address;
    const token = s.asset === adapter.nativeAsset ? null : adapter.tokens.get(s.asset);
    if (s.asset !== adapter.nativeAsset && !token) {
      await note(s.id, `${s.asset} has no contract on ${s.network}`);
      return false;
    }
    const fees = await adapter.client.estimateFeesPerGas();
    const balance = await adapter.client.getBalance({ address: account.address });
    let call: { to: Address; value: bigint; data?: Hex; gas: bigint };
    if (token) {
      const units = parseUnits(new Decimal(s.amount).toFixed(), token.decimals);
      const data = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [hot, units] });
      const gas = await adapter.client.estimateGas({ account: account.address, to: token.address, data });
      const need = gas * fees.maxFeePerGas;
      // Native coins customers deposited here and not yet swept are theirs, not gas: only the rest may pay for it.
      const spendable = balance - (await customerNative(adapter, s.network, s.address));
      if (spendable < need) {
        if (from === 'funding') {
          const gasRef = `sweep-gas:${s.id}:${s.gas_rounds}`;
          const w = await deps.withdrawals.getByRef(gasRef);
          // Still on its way: wait. Completed but fees rose past it: another round below.
          if (w && w.status !== 'completed') {
            if (w.status === 'failed') await note(s.id, `gas top-up ${w.id} failed: ${w.lastError ?? w.failureReason}`);
            return false;
          }
        }
        const round = Number(s.gas_rounds) + 1;
        const topUp = formatUnits(need * GAS_MARGIN - (spendable > 0n ? spendable : 0n), 18);
        const res = await deps.withdrawals.request({
          ref: `sweep-gas:${s.id}:${round}`,
          ownerType: 'platform',
          ownerId: `network_fees.${s.network}`,
          asset: adapter.nativeAsset,
          network: s.network,
          address: account.address,
          amount: new Decimal(topUp).toDecimalPlaces(8, Decimal.ROUND_UP).toFixed(),
          internal: true,
        });
        if (!res.ok) {
          await note(s.id, `gas top-up refused: ${res.message}`);
          return false;
        }
        return (await transition(db, s.id, from, 'funding', { gas_rounds: round })) !== null;
      }
      call = { to: token.address, value: 0n, data, gas };
    } else {
      const gas = 21_000n;
      const value = parseUnits(new Decimal(s.amount).toFixed(), 18) - gas * fees.maxFeePerGas;
      if (value <= 0n || balance < value + gas * fees.maxFeePerGas) {
        await note(s.id, `the address holds ${formatUnits(balance, 18)}, too little to sweep ${s.amount} after gas`);
        return false;
      }
      call = { to: hot, value, gas };
    }
    const chainNonce = await adapter.client.getTransactionCount({ address: account.address, blockTag: 'pending' });
    return db.tx(async (q) => {
      const nonce = await allocateNonce(q, s.network, account.address, chainNonce);
      const raw = await account.signTransaction({
        chainId: adapter.chainId,
        type: 'eip1559',
        nonce,
        to: call.to,
        value: call.value,
        data: call.data,
        gas: call.gas,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      });
      const sent = token ? s.amount : formatUnits(call.value, 18);
      return (
        (await transition(q, s.id, from, 'signed', {
          attempts: Number(s.attempts) + 1,
          nonce,
          raw,
          tx_hash: keccak256(raw),
          sent_value: sent,
          last_error: null,
        })) !== null
      );
    });
  }

  async function step(adapter: EvmAdapter, id: string): Promise<boolean> {
    const s = (await db.query(`SELECT * FROM chain_sweeps WHERE id = $1`, [id])).rows[0];
    if (!s || !ACTIVE.includes(s.status)) return false;
    if (s.status === 'requested' || s.status === 'funding') return signOrFund(adapter, s, s.status);
    const tx = { hash: s.tx_hash as string, broadcastAt: s.broadcast_at === null ? null : Number(s.broadcast_at) };
    if (s.status === 'signed') {
      // After a crash the transaction may already be out: look first, send only if the chain does not know it.
      if ((await adapter.lookup(tx)).state === 'unknown') {
        const sent = await adapter.broadcast(s.raw);
        if (!sent.ok) {
          await note(s.id, `${sent.reason}: ${sent.message}`);
          return false;
        }
      }
      return (await transition(db, id, 'signed', 'broadcast', { broadcast_at: clock.now() })) !== null;
    }
    const look = await adapter.lookup(tx);
    if (look.state === 'mined' && !look.success) {
      return db.tx(async (q) => {
        const failed = await transition(q, id, 'broadcast', 'failed', {
          last_error: `reverted in ${look.blockNumber}`,
        });
        if (!failed) return false;
        await q.query(`UPDATE chain_deposits SET sweep_id = NULL WHERE sweep_id = $1`, [id]);
        return true;
      });
    }
    if (look.state === 'mined') {
      if (look.confirmations < networkInfo(s.network).confirmations) {
        if (look.confirmations === s.confirmations) return false;
        await db.query(`UPDATE chain_sweeps SET confirmations = $2 WHERE id = $1 AND status = 'broadcast'`, [
          id,
          look.confirmations,
        ]);
        return true;
      }
      return db.tx(async (q) => {
        const done = await transition(q, id, 'broadcast', 'completed', {
          confirmations: look.confirmations,
          completed_at: clock.now(),
        });
        if (!done) return false;
        const sent = new Decimal(s.sent_value).toFixed();
        await ledger.transfer(q, {
          id: `sweep:${id}`,
          debit: hotWalletAccount(s.network, s.asset),
          credit: platformAccount('chain_wallets', s.asset),
          amount: sent,
          kind: 'sweep',
          ref: id,
        });
        if (s.asset === adapter.nativeAsset && look.fee && new Decimal(look.fee).gt(0))
          await ledger.transfer(q, {
            id: `sweep-gas:${id}`,
            debit: platformAccount(`network_fees.${s.network}`, s.asset),
            credit: platformAccount('chain_wallets', s.asset),
            amount: look.fee,
            kind: 'network_fee',
            ref: id,
          });
        return true;
      });
    }
    // Not in a block: re-send the same bytes after a while (a node may have dropped them).
    if (tx.broadcastAt !== null && clock.now() - tx.broadcastAt > REBROADCAST_AFTER_MS) {
      await adapter.broadcast(s.raw);
      await db.query(`UPDATE chain_sweeps SET broadcast_at = $2 WHERE id = $1`, [id, clock.now()]);
    }
    if (s.confirmations !== 0)
      await db.query(`UPDATE chain_sweeps SET confirmations = 0 WHERE id = $1 AND status = 'broadcast'`, [id]);
    return false;
  }

  return {
    plan,
    /** Worker tick for one network: plan what is due, then advance every live sweep as far as it goes now. */
    async runOnce(adapter: EvmAdapter): Promise<number> {
      let n = await plan(adapter);
      const live = (
        await db.query<{ id: string }>(
          `SELECT id FROM chain_sweeps WHERE network = $1 AND status IN ('requested', 'funding', 'signed', 'broadcast')
            ORDER BY updated_at LIMIT 100`,
          [adapter.network],
        )
      ).rows;
      for (const r of live) {
        for (let i = 0; i < 4; i++) {
          if (!(await step(adapter, r.id))) break;
          n++;
        }
      }
      return n;
    },
    async list(network?: string): Promise<Sweep[]> {
      const rows = (
        await db.query(
          `SELECT * FROM chain_sweeps WHERE ($1::text IS NULL OR network = $1) ORDER BY created_at DESC LIMIT 200`,
          [network ?? null],
        )
      ).rows;
      return rows.map(toSweep);
    },
    /** Sweeps whose transaction may be in a block but is not booked yet (the hot-wallet reconciliation adds them). */
    async inFlight(q: Queryable, network: string) {
      return (
        await q.query<{ id: string; asset: string; sent_value: string; tx_hash: string }>(
          `SELECT id, asset, sent_value, tx_hash FROM chain_sweeps WHERE network = $1 AND status IN ('signed', 'broadcast')`,
          [network],
        )
      ).rows;
    },
    async get(id: string) {
      const r = onlyRow(await db.query(`SELECT * FROM chain_sweeps WHERE id = $1`, [id]));
      return toSweep(r);
    },
  };
}

export type Sweeps = ReturnType<typeof createSweeps>;
