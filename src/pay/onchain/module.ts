import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderService } from '../orders/service.ts';
import { registerOnchainAdminRoutes } from './routes.ts';
import { createOnchainPayments, depositCreditedHandler, type OnchainPayments } from './service.ts';

/**
 * Paying a hosted checkout from any wallet (issue #16): an address per order, transfers seen and confirmed on chain,
 * under-, over- and late payment. The checkout pages are in src/pay/checkout; this module applies the chain's
 * credited deposits (outbox), returns what expired orders received (worker) and gives the operator the refundable
 * credits (admin API).
 */
export function createOnchainPaymentModule(
  deps: PayExtensionDeps & { orders: OrderService },
): PayExtension & { payments: OnchainPayments } {
  const payments = createOnchainPayments({
    db: deps.db,
    clock: deps.clock,
    ledger: deps.ledger,
    chain: deps.chain,
    orders: deps.orders,
  });
  return {
    payments,
    outboxHandlers: depositCreditedHandler(payments),
    workers: [{ name: 'pay-onchain', tick: () => payments.runOnce() }],
    routes(app) {
      registerOnchainAdminRoutes(app, { payments, adminToken: deps.adminToken });
    },
  };
}
