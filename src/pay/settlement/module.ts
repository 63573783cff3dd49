import type { PayExtension, PayExtensionDeps } from '../extension.ts';

/**
 * Merchant settlement (issue #16): whitelisted withdrawal addresses, withdrawals of the available balance and
 * automatic settlement, each through the chain's withdrawal machine. Filled in by the settlement work.
 */
export function createSettlementModule(deps: PayExtensionDeps): PayExtension & { settlement: null } {
  void deps;
  return { settlement: null };
}
