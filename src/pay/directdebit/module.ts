import type { Sessions } from '../../accounts/service.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import type { OrderHooks, OrderService } from '../orders/service.ts';

/** Direct debit / pre-authorization (binance-pay-extended.md §14): being built. */
export function createDirectDebitOrderHooks(_deps: PayExtensionDeps): OrderHooks {
  return { applies: () => false };
}

export function createDirectDebitModule(
  _deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions; hooks: OrderHooks },
): PayExtension {
  return {};
}
