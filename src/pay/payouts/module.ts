import type { PayExtension, PayExtensionDeps, SubMerchantDirectory } from '../extension.ts';

/** Wiring placeholder: the area is built in this folder (issue #15). */
export function createPayoutModule(_deps: PayExtensionDeps & { subMerchants: SubMerchantDirectory }): PayExtension {
  return {};
}
