import type { PayExtension, PayExtensionDeps } from '../extension.ts';

/**
 * Paying a hosted checkout from any wallet (issue #16): an address per order, transfers seen and confirmed on chain,
 * under-, over- and late payment. Filled in by the on-chain payment work.
 */
export function createOnchainPaymentModule(deps: PayExtensionDeps): PayExtension {
  void deps;
  return {};
}
