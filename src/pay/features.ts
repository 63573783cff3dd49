import type { ApiKeyRecord, Merchant } from '../accounts/service.ts';

/**
 * Per-merchant feature gates of the extended Pay surface (binance-pay-extended.md §9.1). Binance whitelists these
 * products per merchant; Rampart keeps the operator's overrides on the merchant (admin API, CLI) and takes the mode's
 * default for the rest. A gated endpoint called by a merchant without the flag answers 400203.
 */
const FEATURE_DEFAULTS = {
  payout: { sandbox: true, production: true },
  payoutReceiverCheck: { sandbox: true, production: false },
  walletTransfer: { sandbox: true, production: true },
  channelPartner: { sandbox: false, production: false },
  reports: { sandbox: true, production: false },
  directDebit: { sandbox: true, production: false },
  convert: { sandbox: true, production: false },
  profitSharing: { sandbox: true, production: false },
  payerVerification: { sandbox: true, production: false },
  shareAccountId: { sandbox: true, production: false },
  merchantQrCode: { sandbox: false, production: false },
} as const;
export type FeatureFlag = keyof typeof FEATURE_DEFAULTS;
export const FEATURE_FLAGS = Object.keys(FEATURE_DEFAULTS) as FeatureFlag[];
export type Mode = 'sandbox' | 'production';

export function featureEnabled(merchant: Pick<Merchant, 'features'>, flag: FeatureFlag, mode: Mode): boolean {
  return merchant.features[flag] ?? FEATURE_DEFAULTS[flag][mode];
}

/** Every flag with its effective value, for the admin API and the dashboard. */
export function effectiveFeatures(merchant: Pick<Merchant, 'features'>, mode: Mode): Record<FeatureFlag, boolean> {
  return Object.fromEntries(FEATURE_FLAGS.map((f) => [f, featureEnabled(merchant, f, mode)])) as Record<
    FeatureFlag,
    boolean
  >;
}

/**
 * Key permissions beyond the signed API itself (§9.1). Binance enables payout per API key; sandbox keys get every
 * permission, production keys none unless the operator grants it when creating the key.
 */
export const KEY_PERMISSIONS = ['PAYOUT'] as const;
export type KeyPermission = (typeof KEY_PERMISSIONS)[number];

export function keyHasPermission(key: Pick<ApiKeyRecord, 'permissions'>, p: KeyPermission, mode: Mode): boolean {
  return key.permissions ? key.permissions.includes(p) : mode === 'sandbox';
}
