import type { Config } from '../config.ts';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { Mailer } from '../platform/mail.ts';
import type { ModuleParts } from '../platform/module.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import type { Sessions } from '../accounts/service.ts';
import type { SigningKeys } from '../platform/signing-keys.ts';
import type { PriceSource } from '../prices/service.ts';
import { createConnectAuth } from './auth.ts';
import { createCatalog } from './catalog.ts';
import { createGeoIp, SANDBOX_GEO } from './geo.ts';
import { CONNECT_FAMILY, createConnectWebhookFamily } from './notify.ts';
import { createConnectOrders } from './orders/service.ts';
import { createPartnerService } from './partners.ts';
import { registerPartnerPortal } from './portal/routes.ts';
import { registerConnectRoutes } from './routes.ts';

/**
 * Binance Connect for partners: partners and their keys, the catalog and quotes, orders, the signed partner API, the
 * partner portal, the partner webhook family and the expiry of unconfirmed orders. (The hosted buy flow is its own
 * module, connect/buyflow/module.ts.)
 */
export function createConnectModule(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  outbox: Outbox;
  mailer: Mailer;
  signingKeys: SigningKeys;
  prices: PriceSource;
  sessions: Sessions;
  logger: Logger;
  config: Config;
}) {
  const { db, clock, ids, outbox, mailer, signingKeys, prices, sessions, logger, config } = deps;
  const partners = createPartnerService({
    db,
    clock,
    ids,
    mailer,
    signingKeys,
    mode: config.mode,
    publicUrl: config.publicUrl,
  });
  const catalog = createCatalog({ prices });
  const orders = createConnectOrders({
    db,
    clock,
    outbox,
    catalog,
    partners,
    geo: createGeoIp(config.mode === 'sandbox' ? SANDBOX_GEO : []),
    restrictedCountries: config.connect.restrictedCountries,
    orderTtlMs: config.connect.orderTtlMs,
    mode: config.mode,
  });
  const auth = createConnectAuth({
    partners,
    timestampToleranceMs: config.connect.timestampToleranceMs,
    ratePerSecond: config.connect.ratePerSecond,
  });
  const parts: ModuleParts = {
    webhookFamilies: { [CONNECT_FAMILY]: createConnectWebhookFamily({ signingKeys }) },
    workers: [{ name: 'connect-expiry', tick: () => orders.expireDue() }],
    routes(app) {
      registerConnectRoutes(app, { auth, catalog, orders, publicUrl: config.publicUrl, logger });
      registerPartnerPortal(app, {
        partners,
        orders,
        sessions,
        signingKeys,
        publicUrl: config.publicUrl,
        mode: config.mode,
      });
    },
  };
  return { partners, catalog, orders, parts };
}
