import { payDomainFailure } from '../codes.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import { WalletTransfer, WalletTransferQuery } from './schemas.ts';
import { createTransferService, type TransferService } from './service.ts';

/**
 * Wallet transfer (binance-pay-extended.md §11): /wallet/transfer and /wallet/transfer/query, feature
 * `walletTransfer`, TSP scope INTERNAL_TRANSFER (§18.2). The funds always stay with the merchant acted for.
 */
export function createTransferModule(deps: PayExtensionDeps): PayExtension & { transfers: TransferService } {
  const transfers = createTransferService(deps);
  const options = { scope: 'INTERNAL_TRANSFER', feature: 'walletTransfer' } as const;
  return {
    transfers,
    payRoutes(route) {
      route(
        {
          path: '/wallet/transfer',
          summary: 'Transfer between funding and spot wallet',
          schema: WalletTransfer,
          options,
        },
        async (input, { actor }) => {
          const r = await transfers.transfer(actor, input);
          return r.ok ? { data: r.value } : payDomainFailure(r);
        },
      );
      route(
        { path: '/wallet/transfer/query', summary: 'Query a wallet transfer', schema: WalletTransferQuery, options },
        async (input, { actor }) => {
          const r = await transfers.get(actor.merchantId, input.tranId);
          return r.ok ? { data: { tranId: r.value.tranId, status: r.value.status } } : payDomainFailure(r);
        },
      );
    },
  };
}
