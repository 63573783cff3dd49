import type { AccountsService } from '../accounts/service.ts';
import type { ChainService } from '../chain/service.ts';
import type { Config } from '../config.ts';
import type { Clock } from '../platform/clock.ts';
import type { Db, Queryable } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import type { Logger } from '../platform/logger.ts';
import type { Mailer } from '../platform/mail.ts';
import type { ModuleParts } from '../platform/module.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import type { PriceSource } from '../prices/service.ts';
import type { PayRoute } from './family.ts';

/**
 * One area of the extended Pay surface (binance-pay-extended.md: payouts, wallet transfers, sub-merchants,
 * reports): its signed endpoints, declared in the Pay family beside the base ones, plus whatever else a module
 * contributes (workers, outbox handlers, admin and sandbox routes).
 */
export interface PayExtension extends ModuleParts {
  payRoutes?(route: PayRoute): void;
}

/** The sub-merchant area's answer to the others (payouts, orders): may this merchant tag its object with this id? */
export interface SubMerchantDirectory {
  /** True iff `subMerchantId` is one of `merchantId`'s sub-merchants and ACTIVE (binance-pay-extended.md §12.4). */
  isActive(q: Queryable, merchantId: string, subMerchantId: string): Promise<boolean>;
}

/** What every area is built from (the Pay module's own dependencies). */
export interface PayExtensionDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  outbox: Outbox;
  prices: PriceSource;
  accounts: AccountsService;
  mailer: Mailer;
  logger: Logger;
  config: Config;
  adminToken: string;
  /** The salt of the openUserId a merchant sees for a payer (PAY webhooks, the payout receiver check). */
  openIdSalt: string;
  /** The chains: deposit addresses, the deposit watcher, the withdrawal machine, hot wallets. */
  chain: ChainService;
}
