import type { Sessions } from '../../accounts/service.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderService } from '../orders/service.ts';

/** Profit sharing (binance-pay-extended.md §16): being built. */
export function createProfitSharingModule(
  _deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions },
): PayExtension {
  return {};
}
