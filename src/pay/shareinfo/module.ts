import type { Sessions } from '../../accounts/service.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderService } from '../orders/service.ts';

/** Payer verification and share account id (binance-pay-extended.md §17.1, §17.2): being built. */
export function createShareInfoModule(
  _deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions },
): PayExtension {
  return {};
}
