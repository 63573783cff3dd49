import { erc20Abi, formatUnits, type Address, type PublicClient } from 'viem';
import type { Db, Queryable } from '../platform/db/client.ts';
import { DomainError } from '../platform/errors.ts';
import { platformAccount, type AccountRef, type Ledger } from '../platform/ledger/service.ts';
import { Decimal } from '../platform/money.ts';
import type { EvmAdapter } from './evm.ts';
import { networkInfo } from './networks.ts';

/**
 * The hot wallet on the ledger, so that what it holds on each chain can be compared with the books exactly.
 *
 * Accounts (the first two are system accounts with a debit balance: posted = minus what they stand for):
 *   platform:hot_wallet.<NET>:<asset>      the coins the hot wallet holds on that network
 *   platform:network_fees.<NET>:<native>   the gas it paid there (an expense)
 *   platform:capital:<asset>               the platform's own funds put into its hot wallets
 *
 * Entries (debit / credit); the withdrawal and gas ones in the transaction of the withdrawal's state change:
 *   opening     hot_wallet / capital     once per (network, asset): what the chain shows when the platform first starts
 *                                        the network, before it funds anything (zero on a fresh sandbox chain; a wallet
 *                                        funded outside the platform gets its balance here)
 *   funding     hot_wallet / capital     each sandbox mint or dev-account transfer into it, by transaction hash
 *   withdrawal  customer / hot_wallet    the withdrawal's hold, posted when the withdrawal completes
 *   gas         network_fees / hot_wallet  gasUsed × effectiveGasPrice of a mined transaction, by transaction hash,
 * when
 *                                        its withdrawal completes or fails as REVERTED
 */
export const hotWalletAccount = (network: string, asset: string): AccountRef =>
  platformAccount(`hot_wallet.${network}`, asset);
const networkFeeAccount = (network: string): AccountRef =>
  platformAccount(`network_fees.${network}`, networkInfo(network).nativeAsset);
const capitalAccount = (asset: string): AccountRef => platformAccount('capital', asset);

/**
 * One hot wallet balance compared with the ledger, as decimal strings in the asset's units; drift = onChain − ledger.
 */
export interface HotWalletCheck {
  network: string;
  asset: string;
  address: string;
  onChain: string;
  ledger: string;
  drift: string;
}

/**
 * An asset of a network as the hot wallet holds it: the native coin, or an ERC-20 (no contract yet: a token not
 * deployed so far).
 */
export type HotAsset =
  | { asset: string; decimals: number; native: true }
  | { asset: string; decimals: number; native: false; contract: Address | null };

export const nativeHotAsset = (network: string): HotAsset => ({
  asset: networkInfo(network).nativeAsset,
  decimals: 18,
  native: true,
});

/**
 * Books the gas a mined transaction of the hot wallet paid. Keyed by transaction hash, so the completion, a REVERTED
 * failure and a retry that finds the same receipt book it once. A second receipt of the same transaction with another
 * price (re-mined after a reorg) keeps the first booking; the reconciliation shows any difference.
 */
export async function bookNetworkFee(
  ledger: Ledger,
  q: Queryable,
  t: { network: string; hash: string; fee?: string; withdrawalId: string },
) {
  if (!t.fee || !new Decimal(t.fee).gt(0)) return;
  try {
    await ledger.transfer(q, {
      id: `gas:${t.network}:${t.hash}`,
      debit: networkFeeAccount(t.network),
      credit: hotWalletAccount(t.network, networkInfo(t.network).nativeAsset),
      amount: t.fee,
      kind: 'network_fee',
      ref: t.withdrawalId,
    });
  } catch (e) {
    if (!(e instanceof DomainError && e.code === 'TRANSFER_ID_CONFLICT')) throw e;
  }
}

async function balanceAt(client: PublicClient, holder: Address, a: HotAsset, blockNumber: bigint): Promise<bigint> {
  if (a.native) return client.getBalance({ address: holder, blockNumber });
  // A token not deployed yet, or whose contract is gone (a reset dev chain), holds nothing.
  if (!a.contract || !(await client.getCode({ address: a.contract, blockNumber }))) return 0n;
  return client.readContract({
    address: a.contract,
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [holder],
    blockNumber,
  });
}

/** How often the comparison is retried when a block is mined while it reads. */
const STABLE_READ_ATTEMPTS = 10;

export function createHotWallets(deps: { db: Db; ledger: Ledger }) {
  const { db, ledger } = deps;
  const openingMarker = (network: string, asset: string) => `hot_wallet_opening:${network}:${asset}`;

  return {
    /**
     * First observation of a network's hot wallet: for each asset not yet observed, records the block it was seen at
     * (a chain_counters row, so a zero balance is remembered too) and books what it held as the opening balance, once.
     * Called before the platform funds anything, so the funding entries that follow are not counted twice.
     */
    async observeOpening(network: string, client: PublicClient, hot: Address, assets: HotAsset[]) {
      const seen = new Set(
        (
          await db.query<{ name: string }>(`SELECT name FROM chain_counters WHERE name = ANY($1::text[])`, [
            assets.map((a) => openingMarker(network, a.asset)),
          ])
        ).rows.map((r) => r.name),
      );
      const todo = assets.filter((a) => !seen.has(openingMarker(network, a.asset)));
      if (todo.length === 0) return;
      const block = await client.getBlockNumber({ cacheTime: 0 });
      for (const a of todo) {
        const units = await balanceAt(client, hot, a, block);
        await db.tx(async (q) => {
          const fresh = await q.query(
            `INSERT INTO chain_counters (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING name`,
            [openingMarker(network, a.asset), block],
          );
          if (fresh.rows.length === 0 || units === 0n) return;
          await ledger.transfer(q, {
            id: `hw-open:${network}:${a.asset}`,
            debit: hotWalletAccount(network, a.asset),
            credit: capitalAccount(a.asset),
            amount: formatUnits(units, a.decimals),
            kind: 'hot_wallet_opening',
            ref: `${network}:${hot}@${block}`,
          });
        });
      }
    },

    /** The platform itself moved funds into the hot wallet (sandbox provisioning), in the mined transaction `hash`. */
    async bookFunding(network: string, asset: string, hash: string, amount: string) {
      await db.tx((q) =>
        ledger.transfer(q, {
          id: `hw-fund:${network}:${hash}`,
          debit: hotWalletAccount(network, asset),
          credit: capitalAccount(asset),
          amount,
          kind: 'hot_wallet_funding',
          ref: hash,
        }),
      );
    },

    /**
     * Compares the hot wallet's balances on one network at one block with the ledger. The ledger figure is the posted
     * hot-wallet account minus the effects of withdrawals whose transaction is already in a block at or below that one
     * but not yet completed (amount if it succeeded, gas either way), read from their receipts.
     * The ledger side is one REPEATABLE READ snapshot; the comparison only counts if no block was mined between reading
     * the chain and taking that snapshot (otherwise something booked in between could be missing from the chain's
     * side).
     */
    async reconcile(
      a: EvmAdapter,
      /** Sweeps into the hot wallet whose transaction may be in a block before they are booked (sweeps.ts). */
      sweepsInFlight: (
        q: Queryable,
        network: string,
      ) => Promise<{ asset: string; sent_value: string; tx_hash: string }[]> = async () => [],
    ): Promise<{ checks: HotWalletCheck[]; problems: string[] }> {
      const network = a.network;
      const hot = a.hotAddress as Address;
      const assets: HotAsset[] = [
        nativeHotAsset(network),
        ...[...a.tokens.values()].map((t) => ({
          asset: t.asset,
          decimals: t.decimals,
          native: false as const,
          contract: t.address,
        })),
      ];
      for (let attempt = 1; ; attempt++) {
        const block = await a.client.getBlockNumber({ cacheTime: 0 });
        const onChain = await Promise.all(assets.map((x) => balanceAt(a.client, hot, x, block)));
        const snap = await db.tx(async (q) => {
          await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
          const inFlight = (
            await q.query<{ id: string; asset: string; amount: string; hash: string }>(
              `SELECT w.id, w.asset, w.amount, t.hash FROM chain_withdrawals w JOIN chain_txs t
                ON t.withdrawal_id = w.id AND t.attempt = w.attempts
             WHERE w.network = $1 AND w.status IN ('signed', 'broadcast', 'confirming')`,
              [network],
            )
          ).rows;
          const sweeps = await sweepsInFlight(q, network);
          const posted: string[] = [];
          // One at a time: a transaction is one connection.
          for (const x of assets) posted.push((await ledger.balance(q, hotWalletAccount(network, x.asset))).posted);
          return { inFlight, sweeps, posted };
        });
        const after = await a.client.getBlockNumber({ cacheTime: 0 });
        if (after !== block) {
          if (attempt < STABLE_READ_ATTEMPTS) continue;
          return {
            checks: [],
            problems: [
              `${network}: the chain advanced during every one of ${STABLE_READ_ATTEMPTS} reads; hot wallet not ` +
                `compared`,
            ],
          };
        }

        const pendingOut = new Map<string, Decimal>(assets.map((x) => [x.asset, new Decimal(0)]));
        const take = (asset: string, amount: Decimal.Value) =>
          pendingOut.set(asset, (pendingOut.get(asset) ?? new Decimal(0)).plus(amount));
        for (const w of snap.inFlight) {
          const look = await a.lookup({ hash: w.hash, broadcastAt: null });
          if (look.state !== 'mined' || look.blockNumber > block) continue;
          take(a.nativeAsset, look.fee ?? '0');
          if (look.success) take(w.asset, w.amount);
        }
        // A sweep in a block has brought coins in before its completion books them.
        for (const sw of snap.sweeps) {
          const look = await a.lookup({ hash: sw.tx_hash, broadcastAt: null });
          if (look.state === 'mined' && look.success && look.blockNumber <= block)
            take(sw.asset, new Decimal(sw.sent_value).neg());
        }

        const checks: HotWalletCheck[] = [];
        const problems: string[] = [];
        assets.forEach((x, i) => {
          // onChain and snap.posted were mapped from assets, in its order: index i is there.
          const chainSide = new Decimal(formatUnits(onChain[i]!, x.decimals));
          const ledgerSide = new Decimal(snap.posted[i]!).neg().minus(pendingOut.get(x.asset)!);
          const drift = chainSide.minus(ledgerSide);
          checks.push({
            network,
            asset: x.asset,
            address: hot,
            onChain: chainSide.toFixed(),
            ledger: ledgerSide.toFixed(),
            drift: drift.toFixed(),
          });
          if (!drift.isZero()) {
            problems.push(
              `hot wallet ${network} ${x.asset} (${hot}) at block ${block}: on chain ${chainSide.toFixed()}, ` +
                `ledger ${ledgerSide.toFixed()}, drift ${drift.toFixed()}`,
            );
          }
        });
        return { checks, problems };
      }
    },
  };
}

/** One hot wallet asset as the operator watches it (GET /admin/v1/chain/hot-wallets). */
export interface HotWalletOperation extends HotWalletCheck {
  /** What customers hold in this asset on the ledger, all networks together (the platform's liability). */
  customerLiabilities: string;
  /** Withdrawals of this asset on this network not on chain yet (requested, signed): what the wallet must still pay. */
  pendingWithdrawals: { count: number; amount: string };
  /** Of those, how many wait because the wallet is short (they proceed by themselves once it is topped up). */
  waitingForFunds: number;
  /** Set when the wallet cannot cover the pending withdrawals: how much is missing and what to do. */
  warning: string | null;
}

/**
 * The operator's view of the hot wallets: each running network's on-chain balance beside the ledger's inventory
 * (the reconciliation), the customer liabilities in that asset and the withdrawals still to be paid, with a warning
 * where the wallet cannot cover them. `reconcile` is the chain service's reconcileHotWallets.
 */
export function createHotWalletOperations(deps: {
  db: Db;
  ledger: Ledger;
  reconcile(): Promise<{ hotWallets: HotWalletCheck[]; problems: string[] }>;
}) {
  const { db, ledger } = deps;
  return async function hotWalletOperations(): Promise<{ hotWallets: HotWalletOperation[]; problems: string[] }> {
    const r = await deps.reconcile();
    const pending = (
      await db.query<{ network: string; asset: string; n: number; amount: string; waiting: number }>(
        `SELECT network, asset, count(*)::int AS n, sum(amount) AS amount,
            count(*) FILTER (WHERE waiting_reason IS NOT NULL)::int AS waiting
          FROM chain_withdrawals WHERE status IN ('requested', 'signed') GROUP BY network, asset`,
      )
    ).rows;
    const hotWallets: HotWalletOperation[] = [];
    for (const c of r.hotWallets) {
      const p = pending.find((x) => x.network === c.network && x.asset === c.asset);
      const owed = new Decimal(p?.amount ?? 0);
      const short = owed.minus(c.onChain);
      const waiting = p?.waiting ?? 0;
      hotWallets.push({
        ...c,
        customerLiabilities: (await ledger.customerTotal(db, c.asset)).posted,
        pendingWithdrawals: { count: p?.n ?? 0, amount: owed.toFixed() },
        waitingForFunds: waiting,
        warning:
          short.gt(0) || waiting > 0
            ? `The ${c.network} hot wallet holds ${c.onChain} ${c.asset} but ${owed.toFixed()} ${c.asset} of ` +
              `withdrawals are pending (${waiting} waiting for funds): send at least ` +
              `${Decimal.max(short, 0).toFixed()} ${c.asset} (plus gas) to ${c.address}; they proceed by themselves.`
            : null,
      });
    }
    return { hotWallets, problems: r.problems };
  };
}
