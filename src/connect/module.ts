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
import type { SecretBox } from '../platform/crypto.ts';
import type { PriceSource } from '../prices/service.ts';
import { createConnectAuth } from './auth.ts';
import { createCatalog } from './catalog.ts';
import { createGeoIp, SANDBOX_GEO } from './geo.ts';
import { CONNECT_FAMILY, createConnectWebhookFamily } from './notify.ts';
import { createConnectOrders } from './orders/service.ts';
import { createPartnerService } from './partners.ts';
import { registerPartnerPortal } from './portal/routes.ts';
import { registerConnectRoutes } from './routes.ts';
import { createGen2WebhookFamily } from './v2/notify.ts';
import { createPreOrders } from './v2/preorder.ts';
import { registerGen2Routes } from './v2/routes.ts';
import { createGen2Sandbox } from './v2/sandbox.ts';
import { GEN2_FAMILY } from './v2/wire.ts';

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
  box: SecretBox;
  /** Key of generation 2's openUserId hash (binance-connect-v2.md §8). */
  openIdKey: string;
}) {
  const { db, clock, ids, outbox, mailer, signingKeys, prices, sessions, logger, config, box } = deps;
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
    box,
    publicUrl: config.publicUrl,
    openIdKey: deps.openIdKey,
  });
  const preOrders = createPreOrders({
    db,
    clock,
    catalog,
    prices,
    orders,
    box,
    publicUrl: config.publicUrl,
    orderTtlMs: config.connect.orderTtlMs,
    mode: config.mode,
  });
  const sandbox = createGen2Sandbox({ db, orders, preOrders, catalog });
  const auth = createConnectAuth({
    partners,
    timestampToleranceMs: config.connect.timestampToleranceMs,
    ratePerSecond: config.connect.ratePerSecond,
  });
  const parts: ModuleParts = {
    webhookFamilies: {
      [CONNECT_FAMILY]: createConnectWebhookFamily({ signingKeys }),
      [GEN2_FAMILY]: createGen2WebhookFamily({ signingKeys }),
    },
    workers: [{ name: 'connect-expiry', tick: () => orders.expireDue() }],
    routes(app) {
      registerConnectRoutes(app, { auth, catalog, orders, publicUrl: config.publicUrl, logger });
      registerGen2Routes(app, { partners, catalog, prices, orders, preOrders, sandbox, config, logger });
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
  return { partners, catalog, orders, preOrders, sandbox, parts };
}
