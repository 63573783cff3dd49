import type { AccountRef, OwnerType } from '../platform/ledger/service.ts';

/**
 * A merchant's two wallets (binance-pay-extended.md §9.2): orders settle to FUNDING_WALLET; SPOT_WALLET is fed by
 * wallet transfers (§11) and convert (§15). Each is its own ledger account per asset.
 */
export const MERCHANT_WALLETS = ['FUNDING_WALLET', 'SPOT_WALLET'] as const;
export type MerchantWallet = (typeof MERCHANT_WALLETS)[number];

export const walletOwnerType = (wallet: MerchantWallet): OwnerType =>
  wallet === 'SPOT_WALLET' ? 'merchant_spot' : 'merchant';

export const merchantAccount = (merchantId: string, wallet: MerchantWallet, asset: string): AccountRef => ({
  ownerType: walletOwnerType(wallet),
  ownerId: merchantId,
  asset,
});
