import type { Sessions } from '../../accounts/service.ts';
import { payDomainFailure } from '../codes.ts';
import type { PayExtension, PayExtensionDeps, SubMerchantDirectory } from '../extension.ts';
import type { OrderService } from '../orders/service.ts';
import { registerShareInfoRoutes } from './routes.ts';
import { PayerVerification, ShareAccountId } from './schemas.ts';
import { createShareInfoService, type KycIdentityLookup, type ShareInfoService } from './service.ts';

/**
 * Payer verification and share account id (binance-pay-extended.md §17.1, §17.2): /order/payer/verification (feature
 * `payerVerification`) and /shareinfo/accountId (feature `shareAccountId`), both TSP scope CHECKOUT (§18.2); the
 * consent page and its sandbox hook.
 */
export function createShareInfoModule(
  deps: PayExtensionDeps & {
    orders: OrderService;
    sessions: Sessions;
    subMerchants: SubMerchantDirectory;
    kycIdentity: KycIdentityLookup;
  },
): PayExtension & { shareInfo: ShareInfoService } {
  const shareInfo = createShareInfoService({ ...deps, publicUrl: deps.config.publicUrl });
  return {
    shareInfo,
    payRoutes(route) {
      route(
        {
          path: '/order/payer/verification',
          summary: "Check a payer's KYC data",
          schema: PayerVerification,
          options: { scope: 'CHECKOUT', feature: 'payerVerification' },
        },
        async (input) => {
          const r = await shareInfo.verify(input);
          return r.ok ? { data: r.value } : payDomainFailure(r);
        },
      );
      route(
        {
          path: '/shareinfo/accountId',
          summary: 'Ask a user to share their account ID',
          schema: ShareAccountId,
          options: { scope: 'CHECKOUT', feature: 'shareAccountId' },
        },
        async (input, { actor }) => {
          const r = await shareInfo.request(actor, input);
          return r.ok ? { data: shareInfo.wire(r.value) } : payDomainFailure(r);
        },
      );
    },
    routes(app) {
      registerShareInfoRoutes(app, {
        shareInfo,
        accounts: deps.accounts,
        sessions: deps.sessions,
        adminToken: deps.adminToken,
        mode: deps.config.mode,
        publicUrl: deps.config.publicUrl,
      });
    },
  };
}
