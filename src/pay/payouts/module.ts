import type { PayExtension, PayExtensionDeps, SubMerchantDirectory } from '../extension.ts';
import { registerPayoutPayRoutes, registerPayoutRoutes } from './routes.ts';
import { createPayoutService, type PayoutService } from './service.ts';
import type { PayoutLimits } from './schemas.ts';

/**
 * Batch payout (binance-pay-extended.md §10): /payout/transfer, /payout/query, /payout/receiver/check in the Pay
 * family (TSP scope PAYOUT), the batch step machine's worker, the operator's cancel and the e-mail recipient's page.
 * `payouts.reportRows` gives the T_Payout rows (§13.2) to the statements area.
 */
export function createPayoutModule(
  deps: PayExtensionDeps & { subMerchants: SubMerchantDirectory },
): PayExtension & { payouts: PayoutService; limits: PayoutLimits } {
  const payouts = createPayoutService({
    ...deps,
    publicUrl: deps.config.publicUrl,
    mode: deps.config.mode,
  });
  const limits = { prices: deps.prices, maxUsdPerTransfer: deps.config.pay.payoutMaxUsdPerTransfer };
  return {
    payouts,
    limits,
    payRoutes(route) {
      registerPayoutPayRoutes(route, { payouts, limits });
    },
    routes(app) {
      registerPayoutRoutes(app, {
        payouts,
        adminToken: deps.adminToken,
        mode: deps.config.mode,
        now: () => deps.clock.now(),
      });
    },
    workers: [{ name: 'pay-payouts', tick: () => payouts.runOnce() }],
  };
}
