import type { PayExtension, PayExtensionDeps } from '../extension.ts';

/** Wiring placeholder: the area is built in this folder (issue #15). */
export function createStatementModule(_deps: PayExtensionDeps): PayExtension {
  return {};
}
