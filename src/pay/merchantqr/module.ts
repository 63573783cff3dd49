import type { Sessions } from '../../accounts/service.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderHooks, OrderService } from '../orders/service.ts';
import { registerMerchantQrRoutes } from './routes.ts';
import { createMerchantQrHooks, createMerchantQrService, type MerchantQrService } from './service.ts';

/**
 * Static merchant QR codes and the MERCHANT_QR_CODE webhook (binance-pay-extended.md §17.3, feature `merchantQrCode`):
 * no signed endpoint; the order hooks of `qrCodeReferId`, the scan pages and the sandbox scan.
 */
export function createMerchantQrOrderHooks(deps: PayExtensionDeps): OrderHooks {
  return createMerchantQrHooks(deps);
}

export function createMerchantQrModule(
  deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions; hooks: OrderHooks },
): PayExtension & { merchantQr: MerchantQrService } {
  const merchantQr = createMerchantQrService({ ...deps, publicUrl: deps.config.publicUrl, mode: deps.config.mode });
  return {
    merchantQr,
    routes(app) {
      registerMerchantQrRoutes(app, {
        merchantQr,
        orders: deps.orders,
        accounts: deps.accounts,
        sessions: deps.sessions,
        adminToken: deps.adminToken,
        mode: deps.config.mode,
        publicUrl: deps.config.publicUrl,
      });
    },
  };
}
