import type { ModuleParts } from '../platform/module.ts';
import { registerTspSandboxRoutes } from './routes.ts';
import { createTspService, type TspDeps } from './service.ts';

/**
 * Technical service providers: authorizations, actor resolution for the Pay API (its /service/provider/* endpoints are
 * declared in the Pay family's context by the Pay module), the sandbox decision helper and the expiry loop.
 */
export function createTspModule(deps: TspDeps & { adminToken: string; mode: 'sandbox' | 'production' }) {
  const tsp = createTspService(deps);
  const parts: ModuleParts = {
    workers: [{ name: 'tsp-expiry', tick: () => tsp.expireDue() }],
    routes(app) {
      if (deps.mode === 'sandbox') registerTspSandboxRoutes(app, { adminToken: deps.adminToken, tsp });
    },
  };
  return { tsp, parts };
}
