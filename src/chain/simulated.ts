import { createHash } from 'node:crypto';
import { base58 } from '@scure/base';
import type { Clock } from '../platform/clock.ts';
import { planField, type ChainAdapter, type TxLookup } from './port.ts';
import { networkInfo } from './networks.ts';

/**
 * Sandbox stand-in for networks without a real adapter yet (BTC, TRX, XRP, SOL): it moves nothing.
 * The transaction hash is derived from the withdrawal and attempt (same input, same hash), and
 * confirmations follow the business clock at the network's block interval, so sandbox time travel
 * drives them. Every withdrawal it handles is recorded with simulated = true.
 */
export function createSimulatedAdapter(deps: { network: string; clock: Clock }): ChainAdapter {
  const info = networkInfo(deps.network);

  function hashFor(withdrawalId: string, attempt: string): string {
    const seed = `rampart-simulated:${info.code}:${withdrawalId}:${attempt}`;
    switch (info.family) {
      case 'xrp':
        return createHash('sha256').update(seed).digest('hex').toUpperCase();
      case 'sol':
        return base58.encode(createHash('sha512').update(seed).digest());
      default:
        return createHash('sha256').update(seed).digest('hex');
    }
  }

  return {
    network: info.code,
    simulated: true,
    hotAddress: null,
    async prepare(t) {
      return {
        ok: true,
        plan: {
          withdrawalId: t.withdrawalId,
          attempt: String(t.attempt),
          asset: t.asset,
          address: t.address,
          memo: t.memo,
          amount: t.amount,
        },
      };
    },
    async chainNonce() {
      return 0;
    },
    async sign(plan) {
      return {
        hash: hashFor(planField(plan, 'withdrawalId'), planField(plan, 'attempt')),
        raw: JSON.stringify({ simulated: true, ...plan }),
      };
    },
    async broadcast() {
      return { ok: true };
    },
    async lookup(tx): Promise<TxLookup> {
      if (tx.broadcastAt === null) return { state: 'unknown' };
      const blocks = Math.floor((deps.clock.now() - tx.broadcastAt) / info.blockTimeMs);
      if (blocks < 1) return { state: 'pending' };
      return { state: 'mined', success: true, blockNumber: BigInt(blocks), confirmations: blocks };
    },
    async ping() {},
  };
}
