import type { FastifyError, FastifyInstance } from 'fastify';
import { createAccountsService, createSessions, CREDENTIALS_CHANNEL } from './accounts/service.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import { registerWebhookAdminRoutes } from './admin/webhooks.ts';
import type { Config } from './config.ts';
import { createPayAuth } from './pay/auth.ts';
import { registerCheckoutRoutes } from './pay/checkout/routes.ts';
import { createPayWebhookFamily } from './pay/notify.ts';
import { createOrderService } from './pay/orders/service.ts';
import { registerRefundRoutes } from './pay/refunds/routes.ts';
import { createRefundService, REFUND_TOPIC } from './pay/refunds/service.ts';
import { createReportService } from './pay/reports/service.ts';
import { registerReportRoutes } from './admin/reports.ts';
import { payRoutes } from './pay/family.ts';
import { registerPayRoutes } from './pay/routes.ts';
import { createTspService } from './tsp/service.ts';
import { registerTspRoutes, registerTspSandboxRoutes } from './tsp/routes.ts';
import { createMerchantUsers } from './dashboard/users.ts';
import { registerDashboardRoutes } from './dashboard/routes.ts';
import { createOffsetRefresher, createSystemClock, type Clock } from './platform/clock.ts';
import { createSecretBox, sha256Hex } from './platform/crypto.ts';
import type { Db } from './platform/db/client.ts';
import { createHttp } from './platform/http.ts';
import { createIdGenerator } from './platform/ids.ts';
import { createLedger } from './platform/ledger/service.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { createMailer, MAIL_TOPIC, registerDevMailbox } from './platform/mail.ts';
import { createWebhookDelivery } from './platform/outbox/delivery.ts';
import { createKycWebhookFamily, KYC_FAMILY } from './kyc/notify.ts';
import { loadQuestionnaires } from './kyc/questionnaires.ts';
import { registerKycRoutes } from './kyc/routes.ts';
import { createKycService, SHARE_TOPIC } from './kyc/service.ts';
import { createOutbox, createOutboxWorker, DEFAULT_WEBHOOK_CLASS, type OutboxHandler } from './platform/outbox/service.ts';
import { WEBHOOK_TOPIC, type WebhookFamily } from './platform/outbox/webhook-family.ts';
import { createSigningKeys } from './platform/signing-keys.ts';
import { startLoop, type Loop } from './platform/worker.ts';
import { createSandboxPriceSource, type PriceSource } from './prices/service.ts';
import { createTickerPriceSource } from './prices/ticker.ts';
import { createSandboxPayers, loadClockOffset, registerSandboxRoutes } from './sandbox/routes.ts';
import { registerConnectAdminRoutes } from './connect/admin-routes.ts';
import { createConnectAuth } from './connect/auth.ts';
import { createCatalog } from './connect/catalog.ts';
import { createGeoIp, SANDBOX_GEO } from './connect/geo.ts';
import { CONNECT_FAMILY, createConnectWebhookFamily } from './connect/notify.ts';
import { createConnectOrders } from './connect/orders/service.ts';
import { createPartnerService } from './connect/partners.ts';
import { registerConnectRoutes } from './connect/routes.ts';
import { registerPartnerPortal } from './connect/portal/routes.ts';
import { createChainService } from './chain/service.ts';
import { explorerUrl } from './chain/networks.ts';
import { createSandboxAcquirer } from './cards/acquirer.ts';
import { createBuyflowService, type BuyflowService } from './connect/buyflow/service.ts';
import type { FaultPoint } from './connect/buyflow/purchase.ts';
import { reconcileCardCharges } from './cards/ledger.ts';
import { registerBuyflowRoutes } from './connect/buyflow/routes.ts';

/**
 * Composition root: builds every service from explicit dependencies and wires the HTTP routes and workers.
 * Used by main.ts, the worker process, the CLI and the tests alike.
 */
export interface AppOptions {
  config: Config;
  db: Db;
  adminToken: string;
  secretsKey: string;
  clock?: Clock;
  logger?: Logger;
  prices?: PriceSource;
  /** Extra outbox topic handlers (tests). */
  outboxHandlers?: Record<string, OutboxHandler>;
  /** Per-attempt webhook timeout (tests only; default 5 s per spec). */
  webhookTimeoutMs?: number;
  /** Buy-flow machine: a shorter runner lease and crash points (crash tests only). */
  buyflow?: { leaseMs?: number; faults?: { at(point: FaultPoint, orderId: string): void } };
}

/** How stale (ms) a process's copy of the shared sandbox clock offset may be: one worker tick. */
const CLOCK_FRESH_MS = 250;

export async function buildApp(opts: AppOptions) {
  const { config, db } = opts;
  const logger = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? createSystemClock(await loadClockOffset(db));
  // The sandbox offset is one value in the database for every process: each request and a worker loop re-read it.
  const clockSync = !opts.clock && config.mode === 'sandbox' ? createOffsetRefresher(clock, () => loadClockOffset(db)) : null;
  const ids = createIdGenerator();
  const box = createSecretBox(opts.secretsKey);
  const ledger = createLedger({ db, clock });
  const outbox = createOutbox({ clock, ids });
  const prices = opts.prices ?? (config.priceFeedUrl ? createTickerPriceSource({ url: config.priceFeedUrl, logger }) : createSandboxPriceSource({ clock }));
  if (!opts.prices && config.priceFeedUrl) await (prices as ReturnType<typeof createTickerPriceSource>).refresh();
  else if (!opts.prices && config.mode === 'production') logger.warn('PRICE_FEED_URL is not set: prices come from the built-in reference table');
  const accounts = createAccountsService({ db, clock, box });
  // Every process hears revocations at once (PostgreSQL NOTIFY); until it listens, it does not trust its key cache.
  const stopCredentialsListener = await db.listen(CREDENTIALS_CHANNEL, (key) => accounts.forgetKeys(key), (down) => accounts.trustKeyCache(!down));
  const sessions = createSessions({ db, clock });
  const signingKeys = createSigningKeys({ db, box, clock, ids });
  const orders = createOrderService({
    db, clock, ids, ledger, outbox, prices, accounts, config: config.pay, openIdSalt: sha256Hex(`open-user-id:${opts.secretsKey}`),
  });
  const payers = createSandboxPayers({ db, accounts, ledger, ids });
  const payAuth = createPayAuth({ db, accounts, config: config.pay });

  /** Webhook families of the shared delivery engine (topic 'webhook'); other API families add theirs here. */
  const webhookFamilies: Record<string, WebhookFamily> = { pay: createPayWebhookFamily({ signingKeys }) };
  webhookFamilies[KYC_FAMILY] = createKycWebhookFamily({ db, box });
  webhookFamilies[CONNECT_FAMILY] = createConnectWebhookFamily({ signingKeys });
  const webhooks = createWebhookDelivery({
    db, clock, ids, box, families: webhookFamilies, mode: config.mode, allowPrivateTargets: config.allowPrivateTargets, logger, timeoutMs: opts.webhookTimeoutMs, onQueued: () => loops.forEach((l) => l.kick()),
  });
  const outboxHandlers: Record<string, OutboxHandler> = { ...(opts.outboxHandlers ?? {}) };
  const mailer = createMailer({ db, outbox, clock, ids, box, smtpUrl: config.smtpUrl });
  outboxHandlers[MAIL_TOPIC] ??= mailer.handler;
  outboxHandlers[WEBHOOK_TOPIC] ??= webhooks.handle;
  const refunds = createRefundService({ db, clock, ledger, outbox, accounts, sandbox: config.mode === 'sandbox' });
  outboxHandlers[REFUND_TOPIC] ??= refunds.handler;
  const kyc = createKycService({
    db, clock, ids, box, outbox, templates: loadQuestionnaires(), fingerprintKey: sha256Hex(`kyc-id-number:${opts.secretsKey}`), mode: config.mode,
    allowPrivateTargets: config.allowPrivateTargets,
  });
  for (const [topic, h] of Object.entries(kyc.outboxHandlers)) outboxHandlers[topic] ??= h;
  const reports = createReportService({ db, ledger });
  const partners = createPartnerService({ db, clock, ids, mailer, signingKeys, mode: config.mode, publicUrl: config.publicUrl });
  const catalog = createCatalog({ prices });
  const connectOrders = createConnectOrders({
    db, clock, outbox, catalog, partners, geo: createGeoIp(config.mode === 'sandbox' ? SANDBOX_GEO : []),
    restrictedCountries: config.connect.restrictedCountries, orderTtlMs: config.connect.orderTtlMs, mode: config.mode,
  });
  const connectAuth = createConnectAuth({ partners, timestampToleranceMs: config.connect.timestampToleranceMs, ratePerSecond: config.connect.ratePerSecond });
  const merchantUsers = createMerchantUsers({ db, clock, ids, mailer, publicUrl: config.publicUrl });
  const tsp = createTspService({ db, clock, ids, box, accounts, outbox, mailer, publicUrl: config.publicUrl, contactEmails: merchantUsers.contactEmails });
  // Lazy: no chain is contacted or spawned until a withdrawal, deposit address or the worker needs one.
  const chain = createChainService({
    db, ledger, clock, ids, box, logger,
    // Settled withdrawals are announced through the outbox; the buy flow handles them (WITHDRAWAL_SETTLED_TOPIC).
    outbox,
    config: { mode: config.mode, dataDir: config.dataDir, chainRpcUrl: config.chainRpcUrl, anvil: { blockTimeSec: 1 } },
  });
  const acquirer = config.mode === 'sandbox' ? createSandboxAcquirer({ db, clock, fingerprintKey: sha256Hex(`card-fingerprint:${opts.secretsKey}`) }) : null;
  const buyflow: BuyflowService = createBuyflowService({
    db, clock, ids, box, mailer, ledger, prices, catalog, partners, orders: connectOrders, kyc, chain,
    // No real card acquirer adapter ships yet: production refuses card payment instead of using the sandbox one.
    acquirer, mode: config.mode, codeKey: sha256Hex(`buyflow-codes:${opts.secretsKey}`), logger,
    leaseMs: opts.buyflow?.leaseMs, faults: opts.buyflow?.faults,
  });
  for (const [topic, h] of Object.entries(buyflow.outboxHandlers)) outboxHandlers[topic] ??= h;
  /** The ledger audit, plus the outside systems that hold money reconciled against it: the acquirer's charges and the hot wallets. */
  async function audit() {
    const report = await ledger.audit();
    const cardsChecked = acquirer ? await reconcileCardCharges(db, acquirer, ledger) : { cardCharges: 0, problems: [] };
    const wallets = await chain.reconcileHotWallets();
    const problems = [...report.problems, ...cardsChecked.problems, ...(await buyflow.openAuthorizations()), ...wallets.problems];
    return { ...report, ok: problems.length === 0, problems, reconciled: { cardCharges: cardsChecked.cardCharges, hotWallets: wallets.hotWallets } };
  }
  if (config.mode === 'production') logger.warn('no card acquirer is configured: Connect card payments are refused');
  const services = { audit, acquirer, buyflow, db, clock, ids, box, ledger, outbox, prices, accounts, sessions, signingKeys, orders, payers, logger, outboxHandlers, mailer, webhookFamilies, webhooks, refunds, reports, kyc, merchantUsers, tsp, chain, partners, catalog, connectOrders };

  async function createServer(): Promise<FastifyInstance> {
    const app = await createHttp({ logger, trustedProxies: config.trustedProxies, publicUrl: config.publicUrl, metricsToken: config.metricsToken });
    // Another process may have moved the sandbox clock: a request sees every advance committed before it arrived.
    if (clockSync) app.addHook('onRequest', async (req) => { if (req.url !== '/healthz') await clockSync.refreshIfOlderThan(CLOCK_FRESH_MS).catch(() => {}); });
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'Not found.' } }));
    app.setErrorHandler((error: FastifyError, req, reply) => {
      // Signed families answer their own errors (src/platform/signed-route.ts). A client's error here (an unparsable
      // Content-Type, a body too large) is an info line; only what is left is an unknown error worth an error line.
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (status < 500) logger.info({ code: error.code, url: req.url }, 'client request refused');
      if (error.validation) return reply.code(400).send({ error: { code: 'INVALID_REQUEST', message: error.message } });
      if (status >= 500) logger.error({ err: error }, 'request failed');
      return reply.code(status).send({ error: { code: status >= 500 ? 'INTERNAL' : 'BAD_REQUEST', message: status >= 500 ? 'Internal error.' : error.message } });
    });

    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
      try {
        await db.query('SELECT 1');
        const chainReady = await chain.readiness();
        if (!chainReady.ok) return reply.code(503).send({ status: 'not ready', database: 'ok', chain: chainReady.detail });
        return { status: 'ready', database: 'ok', chain: chainReady.detail };
      } catch (e) {
        return reply.code(503).send({ status: 'not ready', database: e instanceof Error ? e.message : String(e) });
      }
    });

    payRoutes(app, { auth: payAuth, resolveActor: tsp.resolveActor, selfOnly: tsp.selfOnly }, logger, (route) => {
      registerPayRoutes(route, {
        orders, prices, signingKeys, publicUrl: config.publicUrl, ledgerBalances: (merchantId) => ledger.balances(db, 'merchant', merchantId),
      });
      registerRefundRoutes(route, { refunds });
      registerTspRoutes(route, { tsp });
    });
    registerDashboardRoutes(app, {
      db, clock, ids, accounts, sessions, users: merchantUsers, tsp, orders, refunds, reports, ledger, webhooks, outbox, publicUrl: config.publicUrl, mode: config.mode,
    });
    registerCheckoutRoutes(app, { db, clock, orders, accounts, sessions, ledger, prices, publicUrl: config.publicUrl, mode: config.mode });
    registerAdminRoutes(app, { adminToken: opts.adminToken, accounts, ledger, audit, signingKeys, db, merchantUsers });
    registerWebhookAdminRoutes(app, { adminToken: opts.adminToken, deliveries: webhooks });
    registerReportRoutes(app, { adminToken: opts.adminToken, accounts, reports });
    registerKycRoutes(app, { kyc, adminToken: opts.adminToken, mode: config.mode, logger });
    registerConnectRoutes(app, { auth: connectAuth, catalog, orders: connectOrders, publicUrl: config.publicUrl, logger });
    registerConnectAdminRoutes(app, { adminToken: opts.adminToken, partners, db, buyflow });
    registerBuyflowRoutes(app, {
      buyflow, sessions, clock, publicUrl: config.publicUrl, mode: config.mode,
      // The sandbox's embedded chains have no public explorer: a link there would point at a mainnet transaction that does not exist.
      explorerTxUrl: (network, hash) => (config.mode === 'production' ? explorerUrl(network, hash) || null : null),
    });
    registerPartnerPortal(app, { partners, orders: connectOrders, sessions, signingKeys, publicUrl: config.publicUrl, mode: config.mode });
    if (config.mode === 'sandbox') {
      registerDevMailbox(app, { mailer, adminToken: opts.adminToken, mode: config.mode });
      registerTspSandboxRoutes(app, { adminToken: opts.adminToken, tsp });
      registerSandboxRoutes(app, { adminToken: opts.adminToken, db, clock, accounts, orders, payers, onClockAdvance: () => loops.forEach((l) => l.kick()), sharedClock: clockSync ?? undefined });
    }
    await app.ready();
    return app;
  }

  const loops: Loop[] = [];
  // Slot classes, so no class waits behind another: webhooks (bounded per receiver host), mail, KYC document
  // downloads (each up to 30 s per file, hence the longer lease) and everything else (refund completion, buy-flow
  // steps, KYC checks) in the worker's 'internal' class.
  const outboxWorker = createOutboxWorker({
    db, clock, handlers: outboxHandlers, logger,
    classes: [DEFAULT_WEBHOOK_CLASS, { name: 'mail', topics: [MAIL_TOPIC], slots: 4 }, { name: 'kyc-files', topics: [SHARE_TOPIC], slots: 4, leaseMs: 180_000 }],
  });

  /** Background work: order expiry, nonce pruning, outbox delivery. */
  function startWorkers(opts2: { idleMs?: number } = {}) {
    const idleMs = opts2.idleMs ?? 500;
    if (clockSync) loops.push(startLoop('clock', async () => (await clockSync.refresh(), 0), { idleMs: Math.min(idleMs, CLOCK_FRESH_MS), logger }));
    loops.push(startLoop('tsp-expiry', () => tsp.expireDue(), { idleMs, logger }));
    loops.push(startLoop('pay-expiry', () => orders.expireDue(), { idleMs, logger }));
    loops.push(startLoop('pay-nonces', () => payAuth.pruneNonces(), { idleMs, logger }));
    loops.push(startLoop('connect-buyflow', () => buyflow.runOnce(), { idleMs, logger }));
    loops.push(startLoop('connect-expiry', () => connectOrders.expireDue(), { idleMs, logger }));
    loops.push(outboxWorker.start({ idleMs: Math.min(idleMs, 250) }));
    loops.push(startLoop('chain', () => chain.runOnce(), { idleMs: Math.max(idleMs, 1000), logger }));
  }

  /** Stops the background loops, the chain, and the revocation listener (everything that holds the process open). */
  async function stopWorkers() {
    await stopCredentialsListener();
    await Promise.all(loops.splice(0).map((l) => l.stop()));
    await chain.stop();
  }

  return { services, createServer, startWorkers, stopWorkers, outboxWorker };
}

export type App = Awaited<ReturnType<typeof buildApp>>;
