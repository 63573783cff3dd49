import type { ModuleParts } from '../platform/module.ts';
import { createChainService } from './service.ts';

/**
 * The chains: hot wallets, deposits and withdrawals on the embedded anvil or a configured RPC. Lazy: no chain is
 * contacted or spawned until a withdrawal, a deposit address or the worker needs one. Its loop polls at most once a
 * second.
 */
export function createChainModule(deps: Parameters<typeof createChainService>[0]) {
  const chain = createChainService(deps);
  const parts: ModuleParts = {
    workers: [{ name: 'chain', tick: () => chain.runOnce(), idleMs: (base) => Math.max(base, 1000) }],
  };
  return { chain, parts };
}
