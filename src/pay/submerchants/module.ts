import type { PayExtension, PayExtensionDeps, SubMerchantDirectory } from '../extension.ts';

/** Wiring placeholder: the area is built in this folder (issue #15). Until then no sub-merchant exists. */
export function createSubMerchantModule(_deps: PayExtensionDeps): PayExtension & { directory: SubMerchantDirectory } {
  return { directory: { isActive: async () => false } };
}
