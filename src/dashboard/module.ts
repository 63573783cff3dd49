import type { ConvertService } from '../pay/convert/service.ts';
import type { DirectDebitService } from '../pay/directdebit/service.ts';
import { featureEnabled } from '../pay/features.ts';
import type { MerchantQrService } from '../pay/merchantqr/service.ts';
import type { PayoutLimits } from '../pay/payouts/schemas.ts';
import type { PayoutService } from '../pay/payouts/service.ts';
import type { ProfitSharingService } from '../pay/profitsharing/service.ts';
import type { SettlementService } from '../pay/settlement/service.ts';
import type { StatementService } from '../pay/statements/service.ts';
import type { SubMerchantService } from '../pay/submerchants/service.ts';
import type { TransferService } from '../pay/transfers/service.ts';
import type { ModuleParts } from '../platform/module.ts';
import { contractPages } from './contracts.ts';
import { conversionPages } from './conversions.ts';
import { merchantQrPages } from './merchantqr.ts';
import { payoutPages } from './payouts.ts';
import { profitSharingPages } from './profitsharing.ts';
import { registerDashboardRoutes, type DashboardDeps } from './routes.ts';
import { settlementPages } from './settlement.ts';
import { statementPages } from './statements.ts';
import { subMerchantPages } from './submerchants.ts';
import { walletPages } from './wallets.ts';

/**
 * The merchant dashboard: a merchant's own pages over the Pay domains: orders, refunds, keys, TSPs and webhooks
 * (routes.ts), and the extended surface's sections: wallets and transfers, payouts, report files, sub-merchants,
 * settlement to the merchant's own addresses.
 */
export function createDashboardModule(
  deps: Omit<DashboardDeps, 'sections'> & {
    extended: {
      transfers: TransferService;
      payouts: PayoutService;
      payoutLimits: PayoutLimits;
      statements: StatementService;
      subMerchants: SubMerchantService;
      settlement: SettlementService;
      directDebit: DirectDebitService;
      merchantQr: MerchantQrService;
      convert: ConvertService;
      profitSharing: ProfitSharingService;
    };
  },
): ModuleParts {
  const { db, ledger, clock, extended, mode } = deps;
  const sections = [
    walletPages({ db, ledger, transfers: extended.transfers }),
    payoutPages({ payouts: extended.payouts, limits: extended.payoutLimits }),
    statementPages({
      statements: extended.statements,
      reportsEnabled: (ctx) => featureEnabled(ctx.merchant, 'reports', mode),
      today: () => new Date(clock.now()).toISOString().slice(0, 10),
    }),
    subMerchantPages({
      subMerchants: extended.subMerchants,
      isPartner: (ctx) => featureEnabled(ctx.merchant, 'channelPartner', mode),
    }),
    settlementPages({ settlement: extended.settlement, ledger, db, clock }),
    contractPages({ directDebit: extended.directDebit }),
    merchantQrPages({
      merchantQr: extended.merchantQr,
      enabled: (ctx) => featureEnabled(ctx.merchant, 'merchantQrCode', mode),
    }),
    conversionPages({
      convert: extended.convert,
      now: () => clock.now(),
      enabled: (ctx) => featureEnabled(ctx.merchant, 'convert', mode),
    }),
    profitSharingPages({
      profitSharing: extended.profitSharing,
      enabled: (ctx) => featureEnabled(ctx.merchant, 'profitSharing', mode),
    }),
  ];
  return { routes: (app) => registerDashboardRoutes(app, { ...deps, sections }) };
}
