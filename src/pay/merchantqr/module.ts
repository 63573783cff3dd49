import type { Sessions } from '../../accounts/service.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderHooks, OrderService } from '../orders/service.ts';

/** Static merchant QR codes and the MERCHANT_QR_CODE webhook (binance-pay-extended.md §17.3): being built. */
export function createMerchantQrOrderHooks(_deps: PayExtensionDeps): OrderHooks {
  return { applies: () => false };
}

export function createMerchantQrModule(
  _deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions; hooks: OrderHooks },
): PayExtension {
  return {};
}
