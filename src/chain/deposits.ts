import { formatUnits, getAddress, parseAbiItem } from 'viem';
import { hdKeyToAccount, type HDKey } from 'viem/accounts';
import type { Clock } from '../platform/clock.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import { onlyRow, type Db, type DbRow } from '../platform/db/client.ts';
import { platformAccount, type Ledger, type OwnerType } from '../platform/ledger/service.ts';
import type { EvmAdapter } from './evm.ts';
import { Decimal } from '../platform/money.ts';
import { networkInfo } from './networks.ts';

/**
 * Deposits on the EVM networks. Each customer gets one address (HD-derived from the platform's master seed,
 * m/44'/60'/1'/0/i) valid on every EVM network. The watcher re-scans the unconfirmed window every tick and keeps
 * what it sees as pending with its block hash; a pending deposit is credited once it has the required
 * confirmations AND its block is still the canonical block at that height. A deposit whose block was
 * replaced is marked orphaned (and revived if the transfer reappears in the new chain). Crediting is a
 * conditional update on a row unique per (network, transaction, log index), in one transaction with the
 * ledger transfer, so a transfer is credited exactly once.
 */
interface DepositAddress {
  ownerType: OwnerType;
  ownerId: string;
  address: string;
  derivationIndex: number;
}

interface Deposit {
  id: string;
  network: string;
  txHash: string;
  logIndex: number;
  asset: string;
  address: string;
  ownerType: OwnerType;
  ownerId: string;
  amount: string;
  blockNumber: number;
  status: 'pending' | 'credited' | 'orphaned';
  /** Blocks on top of the deposit's, its own included, as of the watcher's last scan (0 while orphaned). */
  confirmations: number;
  confirmationsRequired: number;
  createdAt: number;
  creditedAt: number | null;
}

/**
 * Written to the outbox in the transaction that credits a deposit to one of the ANNOUNCED_OWNERS, so the domain that
 * owns the address (the on-chain checkout payment, for `pay_order`) applies it in its own transaction.
 */
export const DEPOSIT_CREDITED_TOPIC = 'chain.deposit.credited';
export interface DepositCreditedEvent {
  depositId: string;
  network: string;
  txHash: string;
  asset: string;
  amount: string;
  ownerType: OwnerType;
  ownerId: string;
}
/** Owners whose credited deposits are announced; a customer's own wallet (payer, user) needs no one told. */
const ANNOUNCED_OWNERS: ReadonlySet<OwnerType> = new Set(['pay_order']);

const TRANSFER_EVENT = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');
/** Blocks scanned per tick and how far back a fresh cursor starts. */
const MAX_BLOCKS_PER_TICK = 500n;
const INITIAL_LOOKBACK = 256n;

const toDeposit = (r: DbRow): Deposit => ({
  id: r.id,
  network: r.network,
  txHash: r.tx_hash,
  logIndex: r.log_index,
  asset: r.asset,
  address: r.address,
  ownerType: r.owner_type,
  ownerId: r.owner_id,
  amount: new Decimal(r.amount).toFixed(),
  blockNumber: Number(r.block_number),
  status: r.status,
  confirmations:
    r.status === 'orphaned' || r.head === null || r.head === undefined
      ? 0
      : Math.max(0, Number(r.head) - Number(r.block_number) + 1),
  confirmationsRequired: networkInfo(r.network).confirmations,
  createdAt: Number(r.created_at),
  creditedAt: r.credited_at === null ? null : Number(r.credited_at),
});

export function createDeposits(deps: {
  db: Db;
  ledger: Ledger;
  clock: Clock;
  seed: () => Promise<HDKey>;
  /** Where deposits to ANNOUNCED_OWNERS are announced (DEPOSIT_CREDITED_TOPIC); without one, nobody is told. */
  outbox?: Outbox;
}) {
  const { db, ledger, clock } = deps;

  async function depositAddress(ownerType: OwnerType, ownerId: string): Promise<DepositAddress> {
    const existing = (
      await db.query(
        `SELECT * FROM chain_deposit_addresses WHERE owner_type = $1 AND owner_id = $2 AND family = 'evm'`,
        [ownerType, ownerId],
      )
    ).rows[0];
    if (existing)
      return { ownerType, ownerId, address: existing.address, derivationIndex: Number(existing.derivation_index) };
    const hd = await deps.seed();
    return db.tx(async (q) => {
      await q.query(
        `INSERT INTO chain_counters (name, value) VALUES ('deposit_index', 0) ON CONFLICT (name) DO NOTHING`,
      );
      // The counter row lock hands out each derivation index once, even to concurrent callers.
      const index = Number(
        onlyRow(
          await q.query<{ v: bigint }>(
            `UPDATE chain_counters SET value = value + 1 WHERE name = 'deposit_index' RETURNING value - 1 AS v`,
          ),
        ).v,
      );
      const address = hdKeyToAccount(hd, { accountIndex: 1, addressIndex: index }).address;
      const ins = await q.query(
        `INSERT INTO chain_deposit_addresses (owner_type, owner_id, family, derivation_index, address, created_at)
          VALUES ($1, $2, 'evm', $3, $4, $5)
         ON CONFLICT (owner_type, owner_id, family) DO NOTHING RETURNING address`,
        [ownerType, ownerId, index, address, clock.now()],
      );
      if (ins.rows[0]) return { ownerType, ownerId, address, derivationIndex: index };
      const row = (
        await q.query(
          `SELECT * FROM chain_deposit_addresses WHERE owner_type = $1 AND owner_id = $2 AND family = 'evm'`,
          [ownerType, ownerId],
        )
      ).rows[0];
      return { ownerType, ownerId, address: row.address, derivationIndex: Number(row.derivation_index) };
    });
  }

  async function addressBook(): Promise<Map<string, { ownerType: OwnerType; ownerId: string }>> {
    const rows = (
      await db.query(`SELECT owner_type, owner_id, address FROM chain_deposit_addresses WHERE family = 'evm'`)
    ).rows;
    return new Map(rows.map((r) => [r.address.toLowerCase(), { ownerType: r.owner_type, ownerId: r.owner_id }]));
  }

  async function record(
    network: string,
    t: {
      txHash: string;
      logIndex: number;
      asset: string;
      address: string;
      amount: string;
      blockNumber: bigint;
      blockHash: string;
    },
    owner: { ownerType: OwnerType; ownerId: string },
  ) {
    // Re-seeing a transfer (rescan, or re-included after a reorg) updates where it is, never its credit.
    await db.query(
      `INSERT INTO chain_deposits (id, network, tx_hash, log_index, asset, address, owner_type, owner_id, amount,
        block_number, block_hash, status, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12)
       ON CONFLICT (network, tx_hash, log_index) DO UPDATE
       SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash, status = 'pending'
       WHERE chain_deposits.status <> 'credited'`,
      [
        `${network}:${t.txHash}:${t.logIndex}`,
        network,
        t.txHash,
        t.logIndex,
        t.asset,
        t.address,
        owner.ownerType,
        owner.ownerId,
        t.amount,
        t.blockNumber,
        t.blockHash,
        clock.now(),
      ],
    );
  }

  /**
   * The platform moving its own coins to a deposit address (a sweep's gas top-up: a withdrawal owned by a platform
   * account) is not a customer's deposit; its signed transaction is recorded before it is sent, so it is known here.
   */
  async function isPlatformInternal(network: string, hash: string): Promise<boolean> {
    const r = await db.query(
      `SELECT 1 FROM chain_txs t JOIN chain_withdrawals w ON w.id = t.withdrawal_id
        WHERE t.network = $1 AND t.hash = $2 AND w.owner_type = 'platform'`,
      [network, hash.toLowerCase()],
    );
    return r.rows.length > 0;
  }

  /** One watcher tick for one network: scan, then credit or orphan pending deposits. Returns deposits credited. */
  async function scan(adapter: EvmAdapter): Promise<number> {
    const network = adapter.network;
    const required = BigInt(networkInfo(network).confirmations);
    const client = adapter.client;
    const book = await addressBook();
    const head = await client.getBlockNumber({ cacheTime: 0 });
    const cursorRow = (
      await db.query<{ block: bigint }>(`SELECT block FROM chain_cursors WHERE network = $1`, [network])
    ).rows[0];
    const cursor = cursorRow ? cursorRow.block : head > INITIAL_LOOKBACK ? head - INITIAL_LOOKBACK : 0n;
    // Re-scan the not-yet-confirmed window every time so transfers moved by a reorg are seen in their new block.
    let from = cursor > required ? cursor - required + 1n : 0n;
    if (from > head) from = head > required ? head - required + 1n : 0n;
    const to = head < from + MAX_BLOCKS_PER_TICK ? head : from + MAX_BLOCKS_PER_TICK - 1n;

    if (book.size > 0) {
      for (let n = from; n <= to; n++) {
        const block = await client.getBlock({ blockNumber: n, includeTransactions: true });
        for (const tx of block.transactions) {
          const owner = tx.to ? book.get(tx.to.toLowerCase()) : undefined;
          if (!owner || tx.value === 0n || (await isPlatformInternal(network, tx.hash))) continue;
          await record(
            network,
            {
              txHash: tx.hash,
              logIndex: -1,
              asset: adapter.nativeAsset,
              address: getAddress(tx.to!),
              amount: formatUnits(tx.value, 18),
              blockNumber: n,
              blockHash: block.hash!,
            },
            owner,
          );
        }
      }
      const tokens = [...adapter.tokens.values()];
      if (tokens.length > 0) {
        const logs = await client.getLogs({
          address: tokens.map((t) => t.address),
          event: TRANSFER_EVENT,
          fromBlock: from,
          toBlock: to,
        });
        for (const log of logs) {
          const owner = log.args.to ? book.get(log.args.to.toLowerCase()) : undefined;
          const token = tokens.find((t) => t.address.toLowerCase() === log.address.toLowerCase());
          if (!owner || !token || !log.args.value) continue;
          await record(
            network,
            {
              txHash: log.transactionHash!,
              logIndex: log.logIndex!,
              asset: token.asset,
              address: getAddress(log.args.to!),
              amount: formatUnits(log.args.value, token.decimals),
              blockNumber: log.blockNumber!,
              blockHash: log.blockHash!,
            },
            owner,
          );
        }
      }
    }
    await db.query(
      `INSERT INTO chain_cursors (network, block) VALUES ($1, $2) ON CONFLICT (network) DO UPDATE SET block = $2`,
      [network, to],
    );

    let credited = 0;
    const pending = (
      await db.query(`SELECT * FROM chain_deposits WHERE network = $1 AND status = 'pending' ORDER BY block_number`, [
        network,
      ])
    ).rows;
    for (const p of pending) {
      const at = BigInt(p.block_number);
      const canonical = at <= head ? (await client.getBlock({ blockNumber: at })).hash : null;
      if (canonical !== p.block_hash) {
        await db.query(
          `UPDATE chain_deposits SET status = 'orphaned' WHERE id = $1 AND status = 'pending' AND block_hash = $2`,
          [p.id, p.block_hash],
        );
        continue;
      }
      if (head - at + 1n < required) continue;
      const did = await db.tx(async (q) => {
        const r = await q.query(
          `UPDATE chain_deposits SET status = 'credited', credited_at = $3 WHERE id = $1 AND status = 'pending'
            AND block_hash = $2 RETURNING id`,
          [p.id, p.block_hash, clock.now()],
        );
        if (r.rowCount !== 1) return false;
        await ledger.transfer(q, {
          id: `dep:${p.id}`,
          debit: platformAccount('chain_wallets', p.asset),
          credit: { ownerType: p.owner_type, ownerId: p.owner_id, asset: p.asset },
          amount: toDeposit(p).amount,
          kind: 'deposit',
          ref: p.id,
        });
        if (ANNOUNCED_OWNERS.has(p.owner_type)) {
          const event: DepositCreditedEvent = {
            depositId: p.id,
            network,
            txHash: p.tx_hash,
            asset: p.asset,
            amount: toDeposit(p).amount,
            ownerType: p.owner_type,
            ownerId: p.owner_id,
          };
          await deps.outbox?.enqueue(q, {
            topic: DEPOSIT_CREDITED_TOPIC,
            orderingKey: `deposit:${p.owner_id}`,
            payload: event,
          });
        }
        return true;
      });
      if (did) credited++;
    }
    return credited;
  }

  async function list(ownerType: OwnerType, ownerId: string): Promise<Deposit[]> {
    return (
      await db.query(
        `SELECT d.*, c.block AS head FROM chain_deposits d LEFT JOIN chain_cursors c ON c.network = d.network
          WHERE d.owner_type = $1 AND d.owner_id = $2 ORDER BY d.block_number, d.log_index`,
        [ownerType, ownerId],
      )
    ).rows.map(toDeposit);
  }

  async function hasAddresses(): Promise<boolean> {
    return (await db.query(`SELECT 1 FROM chain_deposit_addresses LIMIT 1`)).rows.length > 0;
  }

  return { depositAddress, scan, list, hasAddresses };
}
