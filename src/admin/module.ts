import type { ModuleParts } from '../platform/module.ts';
import type { WebhookDeliveryService } from '../platform/outbox/delivery.ts';
import { registerAdminRoutes } from './routes.ts';
import { registerWebhookAdminRoutes } from './webhooks.ts';

/** The operator's admin API (platform.md): merchants, keys, the ledger audit, signing keys, webhook deliveries. */
export function createAdminModule(
  deps: Parameters<typeof registerAdminRoutes>[1] & { deliveries: WebhookDeliveryService },
): ModuleParts {
  return {
    routes(app) {
      registerAdminRoutes(app, deps);
      registerWebhookAdminRoutes(app, { adminToken: deps.adminToken, deliveries: deps.deliveries });
    },
  };
}
