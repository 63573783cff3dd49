import { erc20Abi, formatUnits, getAddress, parseEventLogs, type Address, type Hex } from 'viem';
import type { Db } from '../platform/db/client.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import { platformAccount, type Ledger } from '../platform/ledger/service.ts';
import type { EvmAdapter } from './evm.ts';
import { hotWalletAccount } from './hotwallet.ts';
import { networkInfo } from './networks.ts';

/**
 * Top-ups: the operator puts its own coins into a hot wallet (gas, or tokens for payouts before sweeps have brought
 * customer money in) and tells the platform the transaction, which books it as capital (hot_wallet / capital), once
 * per transaction and asset, after the network's confirmations. The ledger's inventory then matches the chain again,
 * and withdrawals waiting for funds proceed by themselves.
 *
 * Counted: the native value the transaction sends to the hot wallet, and ERC-20 Transfer logs of the network's known
 * tokens to it. Not counted: transfers from the platform's own deposit addresses (sweeps, booked by their
 * completion), and anything in or before the block the hot wallet's opening balance was read at (already in it).
 */
type TopUpError = 'TX_NOT_FOUND' | 'TX_REVERTED' | 'NOT_CONFIRMED' | 'NOTHING_TO_HOT_WALLET' | 'IN_OPENING_BALANCE';

export interface TopUp {
  network: string;
  txHash: string;
  blockNumber: number;
  credited: { asset: string; amount: string; alreadyBooked: boolean }[];
}

export function createTopUps(deps: { db: Db; ledger: Ledger }) {
  const { db, ledger } = deps;

  async function openingBlock(network: string, asset: string): Promise<bigint | null> {
    const r = (
      await db.query<{ value: string }>(`SELECT value FROM chain_counters WHERE name = $1`, [
        `hot_wallet_opening:${network}:${asset}`,
      ])
    ).rows[0];
    return r ? BigInt(r.value) : null;
  }

  async function isDepositAddress(address: string): Promise<boolean> {
    const r = await db.query(`SELECT 1 FROM chain_deposit_addresses WHERE family = 'evm' AND lower(address) = $1`, [
      address.toLowerCase(),
    ]);
    return r.rows.length > 0;
  }

  return {
    async record(a: EvmAdapter, txHash: string): Promise<Result<TopUp, TopUpError>> {
      const network = a.network;
      const hash = txHash.toLowerCase() as Hex;
      const hot = getAddress(a.hotAddress as Address);
      const receipt = await a.client.getTransactionReceipt({ hash }).catch(() => null);
      if (!receipt) return err('TX_NOT_FOUND', `${hash} is not in a block on ${network}`, 'txHash');
      if (receipt.status !== 'success') return err('TX_REVERTED', `${hash} reverted: it moved nothing`, 'txHash');
      const head = await a.client.getBlockNumber({ cacheTime: 0 });
      const confirmations = Number(head - receipt.blockNumber + 1n);
      const required = networkInfo(network).confirmations;
      if (confirmations < required)
        return err('NOT_CONFIRMED', `${hash} has ${confirmations} of ${required} confirmations; record it then`);

      const tx = await a.client.getTransaction({ hash });
      const incoming = new Map<string, bigint>();
      const add = (asset: string, units: bigint) => incoming.set(asset, (incoming.get(asset) ?? 0n) + units);
      if (tx.to && getAddress(tx.to) === hot && tx.value > 0n && !(await isDepositAddress(tx.from)))
        add(a.nativeAsset, tx.value);
      const tokens = [...a.tokens.values()];
      for (const log of parseEventLogs({ abi: erc20Abi, eventName: 'Transfer', logs: receipt.logs })) {
        const token = tokens.find((t) => t.address.toLowerCase() === log.address.toLowerCase());
        if (!token || getAddress(log.args.to) !== hot || (await isDepositAddress(log.args.from))) continue;
        add(token.asset, log.args.value);
      }
      if (incoming.size === 0)
        return err('NOTHING_TO_HOT_WALLET', `${hash} sends nothing from outside the platform to the hot wallet ${hot}`);

      const credited: TopUp['credited'] = [];
      for (const [asset, units] of incoming) {
        const opening = await openingBlock(network, asset);
        if (opening !== null && receipt.blockNumber <= opening)
          return err(
            'IN_OPENING_BALANCE',
            `${hash} is in block ${receipt.blockNumber}, at or before block ${opening} where the ${asset} opening ` +
              `balance was read: it is counted already`,
          );
        const decimals = asset === a.nativeAsset ? 18 : a.tokens.get(asset)!.decimals;
        const amount = formatUnits(units, decimals);
        // The id the sandbox's own funding uses for a single-asset transaction: a transaction is booked once either
        // way.
        const id = incoming.size === 1 ? `hw-fund:${network}:${hash}` : `hw-fund:${network}:${hash}:${asset}`;
        const booked = await db.tx((q) =>
          ledger.transfer(q, {
            id,
            debit: hotWalletAccount(network, asset),
            credit: platformAccount('capital', asset),
            amount,
            kind: 'hot_wallet_funding',
            ref: hash,
          }),
        );
        credited.push({ asset, amount, alreadyBooked: booked.duplicate });
      }
      return ok({ network, txHash: hash, blockNumber: Number(receipt.blockNumber), credited });
    },
  };
}
