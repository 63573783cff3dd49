import type { Sessions } from '../../accounts/service.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderService } from '../orders/service.ts';

/** Convert (binance-pay-extended.md §15): being built. */
export function createConvertModule(
  _deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions },
): PayExtension {
  return {};
}
