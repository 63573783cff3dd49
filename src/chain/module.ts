import { z } from 'zod';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { ModuleParts } from '../platform/module.ts';
import { createChainService } from './service.ts';

const TopUpBody = z.object({
  network: z.string().regex(/^[A-Z0-9]{2,10}$/),
  txHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
});

/**
 * The chains: hot wallets, deposits, sweeps and withdrawals on the embedded anvil or a configured RPC. Lazy: no chain
 * is contacted or spawned until a withdrawal, a deposit address or the worker needs one. Its loop polls the nodes at
 * most every CHAIN_POLL_MS (default a second). The operator books its own coins sent to a hot wallet with
 * POST /admin/v1/chain/top-ups.
 */
export function createChainModule(
  deps: Parameters<typeof createChainService>[0] & { adminToken: string; pollMs: number },
) {
  const chain = createChainService(deps);
  const parts: ModuleParts = {
    workers: [{ name: 'chain', tick: () => chain.runOnce(), idleMs: (base) => Math.max(base, deps.pollMs) }],
    routes(app) {
      const security = [{ adminToken: [] }];
      app.post(
        '/admin/v1/chain/top-ups',
        {
          onRequest: adminGuard(deps.adminToken),
          schema: {
            tags: ['Admin'],
            security,
            summary: "Book the operator's own coins sent to a hot wallet (after the network's confirmations)",
            body: TopUpBody,
          },
        },
        async (req, reply) => {
          const { network, txHash } = req.body as z.infer<typeof TopUpBody>;
          const res = await chain.recordTopUp(network, txHash);
          if (!res.ok) {
            const status = res.code === 'TX_NOT_FOUND' ? 404 : res.code === 'NETWORK_UNAVAILABLE' ? 400 : 409;
            return adminError(reply, status, res.code, res.message);
          }
          return res.value;
        },
      );
    },
  };
  return { chain, parts };
}
