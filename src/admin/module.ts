import type { Sessions } from '../accounts/service.ts';
import type { ConnectOrders } from '../connect/orders/service.ts';
import type { ModuleParts } from '../platform/module.ts';
import type { WebhookDeliveryService } from '../platform/outbox/delivery.ts';
import type { OrderService } from '../pay/orders/service.ts';
import type { RefundService } from '../pay/refunds/service.ts';
import type { AuditLog } from './audit-log.ts';
import { brokersSection } from './console/brokers.ts';
import { hotWalletsSection } from './console/hot-wallets.ts';
import { kycSection } from './console/kyc.ts';
import { ledgerSection } from './console/ledger.ts';
import { merchantsSection } from './console/merchants.ts';
import { ordersSection } from './console/orders.ts';
import { partnersSection } from './console/partners.ts';
import { sandboxSection } from './console/sandbox.ts';
import { webhooksSection } from './console/webhooks.ts';
import { registerConsole, type ConsoleSection } from './console/routes.ts';
import type { ConsoleSessions } from './console/session.ts';
import { registerLedgerAdminApi } from './ledger-api.ts';
import { registerOperatorApi } from './operator-api.ts';
import { registerOrdersAdminApi } from './orders-api.ts';
import type { Operators } from './operators.ts';
import { registerAdminRoutes } from './routes.ts';
import { registerWebhookAdminRoutes } from './webhooks.ts';

/**
 * The operator's surfaces: the admin API (platform.md: merchants, keys, the ledger audit, signing keys, webhook
 * deliveries, operator accounts, the audit log) and the operator console at /admin, whose pages act through it.
 */
export function createAdminModule(
  deps: Parameters<typeof registerAdminRoutes>[1] & {
    deliveries: WebhookDeliveryService;
    operators: Operators;
    auditLog: AuditLog;
    sessions: Sessions;
    consoleSessions: ConsoleSessions;
    publicUrl: string;
    payOrders: OrderService;
    refunds: RefundService;
    connectOrders: ConnectOrders;
  },
): ModuleParts {
  // The console's sections, each in its own file under ./console.
  const sections: ConsoleSection[] = [
    kycSection,
    merchantsSection,
    partnersSection,
    brokersSection,
    ordersSection,
    webhooksSection,
    ledgerSection,
    hotWalletsSection,
    ...(deps.mode === 'sandbox' ? [sandboxSection] : []),
  ];
  return {
    routes(app) {
      registerAdminRoutes(app, deps);
      registerWebhookAdminRoutes(app, { adminToken: deps.adminToken, deliveries: deps.deliveries });
      registerOperatorApi(app, deps);
      registerOrdersAdminApi(app, deps);
      registerLedgerAdminApi(app, deps);
      registerConsole(app, {
        mode: deps.mode,
        publicUrl: deps.publicUrl,
        adminToken: deps.adminToken,
        sessions: deps.sessions,
        db: deps.db,
        consoleSessions: deps.consoleSessions,
        operators: deps.operators,
        auditLog: deps.auditLog,
        sections,
      });
    },
  };
}
