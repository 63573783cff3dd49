import type { Sessions } from '../accounts/service.ts';
import { registerReportRoutes } from '../admin/reports.ts';
import type { ModuleParts } from '../platform/module.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';
import { registerTspRoutes } from '../tsp/routes.ts';
import type { TspService } from '../tsp/service.ts';
import { createPayAuth } from './auth.ts';
import { registerCheckoutRoutes } from './checkout/routes.ts';
import { payRoutes } from './family.ts';
import { createPayWebhookFamily } from './notify.ts';
import { createOrderService } from './orders/service.ts';
import { registerRefundRoutes } from './refunds/routes.ts';
import { createRefundService, REFUND_TOPIC } from './refunds/service.ts';
import { createReportService } from './reports/service.ts';
import { registerPayRoutes } from './routes.ts';
import type { PayExtension, PayExtensionDeps } from './extension.ts';
import { createPayoutModule } from './payouts/module.ts';
import { createConvertModule } from './convert/module.ts';
import { createDirectDebitModule, createDirectDebitOrderHooks } from './directdebit/module.ts';
import { createMerchantQrModule, createMerchantQrOrderHooks } from './merchantqr/module.ts';
import { createProfitSharingModule, createProfitSharingOrderHooks } from './profitsharing/module.ts';
import { createShareInfoModule } from './shareinfo/module.ts';
import type { KycIdentityLookup } from './shareinfo/service.ts';
import { createOnchainPaymentModule } from './onchain/module.ts';
import { createSettlementModule } from './settlement/module.ts';
import { createStatementModule } from './statements/module.ts';
import { createSubMerchantModule } from './submerchants/module.ts';
import { createTransferModule } from './transfers/module.ts';
import { walletOwnerType } from './wallets.ts';

/**
 * Binance Pay: request authentication, orders, refunds and reports; the Pay family's endpoints (TSP's own
 * /service/provider/* ones included, as they share its context), the hosted checkout pages, the admin report API, the
 * PAY webhook family, refund completion (outbox) and the expiry and nonce-pruning loops.
 */
export function createPayModule(
  deps: PayExtensionDeps & {
    sessions: Sessions;
    signingKeys: SigningKeys;
    tsp: TspService;
    /** The identity a payer's approved KYC attests (§17.1 payer verification; src/kyc). */
    kycIdentity: KycIdentityLookup;
  },
) {
  const { db, clock, ids, ledger, outbox, prices, accounts, sessions, signingKeys, tsp, logger, config } = deps;
  const extensionDeps: PayExtensionDeps = { ...deps };
  // The extended surface (binance-pay-extended.md §10–§13), one area each.
  const subMerchants = createSubMerchantModule(extensionDeps);
  const transfers = createTransferModule(extensionDeps);
  const payouts = createPayoutModule({ ...extensionDeps, subMerchants: subMerchants.directory });
  const statements = createStatementModule({ ...extensionDeps, payouts: payouts.payouts });
  const settlement = createSettlementModule(extensionDeps);
  // Areas with a part in an order's life (§14.9 directDebitContract, §17.3 qrCodeReferId): their hooks come first.
  const directDebitHooks = createDirectDebitOrderHooks(extensionDeps);
  const merchantQrHooks = createMerchantQrOrderHooks(extensionDeps);
  // §16 orderTags.ifProfitSharing: refused without the feature, stored in the order's extra for splits.
  const profitSharingHooks = createProfitSharingOrderHooks(extensionDeps);
  const auth = createPayAuth({ db, accounts, config: config.pay });
  const orders = createOrderService({
    db,
    clock,
    ids,
    ledger,
    outbox,
    prices,
    accounts,
    config: config.pay,
    openIdSalt: deps.openIdSalt,
    subMerchants: subMerchants.directory,
    hooks: [directDebitHooks, merchantQrHooks, profitSharingHooks],
  });
  // On-chain checkout payments pay orders through the order service.
  const onchain = createOnchainPaymentModule({ ...extensionDeps, orders });
  // The second half of the extended surface (§14–§17): areas that create, pay or read orders.
  const withOrders = { ...extensionDeps, orders, sessions };
  const directDebit = createDirectDebitModule({
    ...withOrders,
    hooks: directDebitHooks,
    subMerchants: subMerchants.directory,
  });
  const convert = createConvertModule(withOrders);
  const profitSharing = createProfitSharingModule(withOrders);
  const shareInfo = createShareInfoModule({
    ...withOrders,
    subMerchants: subMerchants.directory,
    kycIdentity: deps.kycIdentity,
  });
  const merchantQr = createMerchantQrModule({ ...withOrders, hooks: merchantQrHooks });
  const extensions: PayExtension[] = [
    subMerchants,
    transfers,
    payouts,
    statements,
    onchain,
    settlement,
    directDebit,
    convert,
    profitSharing,
    shareInfo,
    merchantQr,
  ];
  const refunds = createRefundService({ db, clock, ledger, outbox, accounts, sandbox: config.mode === 'sandbox' });
  const reports = createReportService({ db, ledger });

  const parts: ModuleParts = {
    webhookFamilies: { pay: createPayWebhookFamily({ signingKeys }) },
    outboxHandlers: Object.assign({ [REFUND_TOPIC]: refunds.handler }, ...extensions.map((e) => e.outboxHandlers)),
    outboxClasses: extensions.flatMap((e) => e.outboxClasses ?? []),
    workers: [
      { name: 'pay-expiry', tick: () => orders.expireDue() },
      { name: 'pay-nonces', tick: () => auth.pruneNonces() },
      ...extensions.flatMap((e) => e.workers ?? []),
    ],
    routes(app) {
      const familyDeps = {
        auth,
        resolveActor: tsp.resolveActor,
        selfOnly: tsp.selfOnly,
        merchant: async (id: string) => {
          const features = await accounts.merchantFeatures(id);
          return features && { features };
        },
        mode: config.mode,
      };
      payRoutes(app, familyDeps, logger, (route) => {
        registerPayRoutes(route, {
          orders,
          prices,
          signingKeys,
          publicUrl: config.publicUrl,
          ledgerBalances: (merchantId, wallet) => ledger.balances(db, walletOwnerType(wallet), merchantId),
        });
        registerRefundRoutes(route, { refunds });
        registerTspRoutes(route, { tsp });
        for (const e of extensions) e.payRoutes?.(route);
      });
      for (const e of extensions) e.routes?.(app);
      registerCheckoutRoutes(app, {
        db,
        clock,
        orders,
        accounts,
        sessions,
        ledger,
        prices,
        onchain: onchain.payments,
        orderContract: (o) => directDebit.directDebit.forOrder(o.prepayId),
        publicUrl: config.publicUrl,
        mode: config.mode,
      });
      registerReportRoutes(app, { adminToken: deps.adminToken, accounts, reports });
    },
  };
  return {
    auth,
    orders,
    refunds,
    reports,
    transfers: transfers.transfers,
    payouts: payouts.payouts,
    subMerchants: subMerchants.subMerchants,
    statements: statements.statements,
    payoutLimits: payouts.limits,
    settlement: settlement.settlement,
    directDebit: directDebit.directDebit,
    convert: convert.convert,
    profitSharing: profitSharing.profitSharing,
    merchantQr: merchantQr.merchantQr,
    parts,
  };
}
