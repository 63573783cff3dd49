import type { Sessions } from '../../accounts/service.ts';
import { explorerUrl } from '../../chain/networks.ts';
import type { ModuleParts } from '../../platform/module.ts';
import { registerConnectAdminRoutes } from '../admin-routes.ts';
import { registerBuyflowRoutes } from './routes.ts';
import { createBuyflowService } from './service.ts';

/**
 * The hosted buy flow: the person's pages, the purchase step machine (its worker loop and its outbox handler for
 * settled withdrawals), and the operator's Connect admin API, which shows an order with its buy-flow steps.
 */
export function createBuyflowModule(
  deps: Parameters<typeof createBuyflowService>[0] & {
    sessions: Sessions;
    publicUrl: string;
    adminToken: string;
  },
) {
  const buyflow = createBuyflowService(deps);
  const { mode } = deps;
  const parts: ModuleParts = {
    outboxHandlers: buyflow.outboxHandlers,
    workers: [{ name: 'connect-buyflow', tick: () => buyflow.runOnce() }],
    routes(app) {
      registerBuyflowRoutes(app, {
        buyflow,
        sessions: deps.sessions,
        clock: deps.clock,
        publicUrl: deps.publicUrl,
        mode,
        // The sandbox's embedded chains have no public explorer: a link there would point at a mainnet transaction that
        // does not exist.
        explorerTxUrl: (network, hash) => (mode === 'production' ? explorerUrl(network, hash) || null : null),
      });
      registerConnectAdminRoutes(app, { adminToken: deps.adminToken, partners: deps.partners, db: deps.db, buyflow });
    },
  };
  return { buyflow, parts };
}
