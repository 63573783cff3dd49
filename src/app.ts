import type { FastifyError, FastifyInstance } from 'fastify';
import { createAccountsService, createSessions, CREDENTIALS_CHANNEL } from './accounts/service.ts';
import { createAdminModule } from './admin/module.ts';
import { createAuditLog } from './admin/audit-log.ts';
import { createConsoleSessions } from './admin/console/session.ts';
import { createOperators } from './admin/operators.ts';
import { createSandboxAcquirer } from './cards/acquirer.ts';
import { reconcileCardCharges } from './cards/ledger.ts';
import { createChainModule } from './chain/module.ts';
import { createPersonAccountsModule } from './accounts/module.ts';
import { createWalletModule } from './wallet/module.ts';
import type { Config } from './config.ts';
import { createBuyflowModule } from './connect/buyflow/module.ts';
import type { FaultPoint } from './connect/buyflow/purchase.ts';
import { createConnectModule } from './connect/module.ts';
import { createDashboardModule } from './dashboard/module.ts';
import { createMerchantUsers } from './dashboard/users.ts';
import { createKycModule } from './kyc/module.ts';
import { createPayModule } from './pay/module.ts';
import { createOffsetRefresher, createSystemClock, type Clock } from './platform/clock.ts';
import { createSecretBox, sha256Hex } from './platform/crypto.ts';
import type { Db } from './platform/db/client.ts';
import { createHttp } from './platform/http.ts';
import { createIdGenerator } from './platform/ids.ts';
import { createLedger } from './platform/ledger/service.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { createMailer, MAIL_TOPIC } from './platform/mail.ts';
import type { ModuleParts } from './platform/module.ts';
import { createWebhookDelivery } from './platform/outbox/delivery.ts';
import {
  createOutbox,
  createOutboxWorker,
  DEFAULT_WEBHOOK_CLASS,
  type OutboxHandler,
} from './platform/outbox/service.ts';
import { WEBHOOK_TOPIC, type WebhookFamily } from './platform/outbox/webhook-family.ts';
import { createSigningKeys } from './platform/signing-keys.ts';
import { startLoop, type Loop } from './platform/worker.ts';
import { createSandboxPriceSource, type PriceSource } from './prices/service.ts';
import { createTickerPriceSource } from './prices/ticker.ts';
import { createSandboxPayers, loadClockOffset } from './sandbox/routes.ts';
import { createSandboxModule } from './sandbox/module.ts';
import { createTspModule } from './tsp/module.ts';
import { registerLanding } from './web/landing.ts';

/**
 * Composition root: builds the platform, then each domain's module (src/<domain>/module.ts) in dependency order, and
 * collects their routes, worker loops, outbox handlers and classes, and webhook families.
 * Used by main.ts, the worker process, the CLI and the tests alike.
 */
interface AppOptions {
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
  const { mode, publicUrl } = config;
  const adminToken = opts.adminToken;
  const secret = (purpose: string) => sha256Hex(`${purpose}:${opts.secretsKey}`);

  // Loops are kicked when work is queued (a webhook, a clock advance); the list fills when workers start.
  const loops: Loop[] = [];
  const kickLoops = () => {
    for (const l of loops) l.kick();
  };

  // Platform: logging, the business clock, ids, secrets, ledger, outbox, prices, accounts, keys, mail.
  const logger = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? createSystemClock(await loadClockOffset(db));
  // The sandbox offset is one value in the database for every process: each request and a worker loop re-read it.
  const clockSync = !opts.clock && mode === 'sandbox' ? createOffsetRefresher(clock, () => loadClockOffset(db)) : null;
  const ids = createIdGenerator();
  const box = createSecretBox(opts.secretsKey);
  const ledger = createLedger({ db, clock });
  const outbox = createOutbox({ clock, ids });
  const prices =
    opts.prices ??
    (config.priceFeedUrl
      ? createTickerPriceSource({ url: config.priceFeedUrl, logger })
      : createSandboxPriceSource({ clock }));
  if (!opts.prices && config.priceFeedUrl) await (prices as ReturnType<typeof createTickerPriceSource>).refresh();
  else if (!opts.prices && mode === 'production')
    logger.warn('PRICE_FEED_URL is not set: prices come from the built-in reference table');
  const accounts = createAccountsService({ db, clock, box });
  // Every process hears revocations at once (PostgreSQL NOTIFY); until it listens, it does not trust its key cache.
  const stopCredentialsListener = await db.listen(
    CREDENTIALS_CHANNEL,
    (key) => accounts.forgetKeys(key),
    (down) => accounts.trustKeyCache(!down),
  );
  const sessions = createSessions({ db, clock });
  const signingKeys = createSigningKeys({ db, box, clock, ids });
  const mailer = createMailer({ db, outbox, clock, ids, box, smtpUrl: config.smtpUrl });
  const merchantUsers = createMerchantUsers({ db, clock, ids, mailer, publicUrl });
  // The operators, their console sessions and the audit log of what they do (src/admin).
  const operators = createOperators({ db, clock, ids, box });
  const auditLog = createAuditLog({ db, ids });
  const consoleSessions = createConsoleSessions({ sessions, operators, adminToken });

  // Domains, in dependency order.
  const tsp = createTspModule({
    db,
    clock,
    ids,
    box,
    accounts,
    outbox,
    mailer,
    publicUrl,
    contactEmails: merchantUsers.contactEmails,
    adminToken,
    mode,
  });
  // Settled withdrawals are announced through the outbox; the buy flow handles them (WITHDRAWAL_SETTLED_TOPIC).
  const chain = createChainModule({
    db,
    ledger,
    clock,
    ids,
    box,
    logger,
    outbox,
    config: {
      mode,
      dataDir: config.dataDir,
      chainRpcUrl: config.chainRpcUrl,
      chainTokens: config.chainTokens,
      sweep: config.chainSweep,
      anvil: { blockTimeSec: 1 },
    },
    adminToken,
    pollMs: config.chainPollMs,
  });
  const pay = createPayModule({
    db,
    clock,
    ids,
    ledger,
    outbox,
    prices,
    accounts,
    sessions,
    signingKeys,
    tsp: tsp.tsp,
    mailer,
    logger,
    config,
    adminToken,
    openIdSalt: secret('open-user-id'),
    chain: chain.chain,
    // KYC is built after Pay; the lookup runs only on a request, when it exists.
    kycIdentity: (userId) => kyc.kyc.approvedBuyflowIdentity(userId),
  });
  const kyc = createKycModule({
    db,
    clock,
    ids,
    box,
    outbox,
    logger,
    secretsKey: opts.secretsKey,
    mode,
    allowPrivateTargets: config.allowPrivateTargets,
    adminToken,
    accounts,
  });
  const connect = createConnectModule({
    db,
    clock,
    ids,
    outbox,
    mailer,
    signingKeys,
    prices,
    sessions,
    logger,
    config,
    box,
    openIdKey: secret('connect-open-user-id'),
  });
  // No real card acquirer adapter ships yet: production refuses card payment instead of using the sandbox one.
  const acquirer =
    mode === 'sandbox' ? createSandboxAcquirer({ db, clock, fingerprintKey: secret('card-fingerprint') }) : null;
  if (mode === 'production') logger.warn('no card acquirer is configured: Connect card payments are refused');
  const buyflow = createBuyflowModule({
    db,
    clock,
    ids,
    box,
    mailer,
    ledger,
    prices,
    catalog: connect.catalog,
    partners: connect.partners,
    orders: connect.orders,
    kyc: kyc.kyc,
    chain: chain.chain,
    acquirer,
    mode,
    codeKey: secret('buyflow-codes'),
    logger,
    leaseMs: opts.buyflow?.leaseMs,
    faults: opts.buyflow?.faults,
    sessions,
    publicUrl,
    adminToken,
  });

  // The webhook delivery engine serves every family the domains declared.
  const people = createPersonAccountsModule({
    db,
    clock,
    ids,
    accounts,
    sessions,
    mailer,
    publicUrl,
    mode,
    // One account, one code table (buyflow_codes): the buy flow's key, so a code works in whichever flow it is typed.
    codeKey: secret('buyflow-codes'),
  });
  const wallet = createWalletModule({
    db,
    clock,
    ids,
    ledger,
    chain: chain.chain,
    accounts,
    sessions,
    mailer,
    publicUrl,
    mode,
    codeKey: secret('wallet-codes'),
  });
  const domains = [tsp.parts, pay.parts, kyc.parts, connect.parts, chain.parts, buyflow.parts, people, wallet];
  const webhookFamilies: Record<string, WebhookFamily> = Object.assign(
    {},
    ...domains.map((m) => m.webhookFamilies ?? {}),
  );
  const webhooks = createWebhookDelivery({
    db,
    clock,
    ids,
    box,
    families: webhookFamilies,
    mode,
    allowPrivateTargets: config.allowPrivateTargets,
    logger,
    timeoutMs: opts.webhookTimeoutMs,
    onQueued: kickLoops,
  });

  /**
   * The ledger audit, plus the outside systems that hold money reconciled against it: the acquirer's charges and the
   * hot wallets.
   */
  async function audit() {
    const report = await ledger.audit();
    const cardsChecked = acquirer ? await reconcileCardCharges(db, acquirer, ledger) : { cardCharges: 0, problems: [] };
    const wallets = await chain.chain.reconcileHotWallets();
    const problems = [
      ...report.problems,
      ...cardsChecked.problems,
      ...(await buyflow.buyflow.openAuthorizations()),
      ...wallets.problems,
    ];
    return {
      ...report,
      ok: problems.length === 0,
      problems,
      reconciled: { cardCharges: cardsChecked.cardCharges, hotWallets: wallets.hotWallets },
    };
  }
  const payers = createSandboxPayers({ db, accounts, ledger, ids });

  // The platform's own parts and the operator's surfaces, which see every domain.
  const platform: ModuleParts = {
    outboxHandlers: { [MAIL_TOPIC]: mailer.handler, [WEBHOOK_TOPIC]: webhooks.handle },
    outboxClasses: [DEFAULT_WEBHOOK_CLASS, { name: 'mail', topics: [MAIL_TOPIC], slots: 4 }],
    workers: clockSync
      ? [
          {
            name: 'clock',
            tick: async () => (await clockSync.refresh(), 0),
            idleMs: (base) => Math.min(base, CLOCK_FRESH_MS),
          },
        ]
      : [],
    routes(app) {
      // First, so it sees every admin and sandbox route registered after it.
      auditLog.register(app);
      registerLanding(app, { mode, publicUrl });
      app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
      app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
        try {
          await db.query('SELECT 1');
          const chainReady = await chain.chain.readiness();
          if (!chainReady.ok)
            return reply.code(503).send({ status: 'not ready', database: 'ok', chain: chainReady.detail });
          return { status: 'ready', database: 'ok', chain: chainReady.detail };
        } catch (e) {
          return reply.code(503).send({ status: 'not ready', database: e instanceof Error ? e.message : String(e) });
        }
      });
    },
  };
  // The operator's and integrator's surfaces, which see every domain.
  const operator: ModuleParts[] = [
    createDashboardModule({
      db,
      clock,
      ids,
      accounts,
      sessions,
      users: merchantUsers,
      tsp: tsp.tsp,
      orders: pay.orders,
      refunds: pay.refunds,
      reports: pay.reports,
      ledger,
      webhooks,
      outbox,
      publicUrl,
      mode,
      extended: pay,
    }),
    createAdminModule({
      adminToken,
      accounts,
      ledger,
      audit,
      signingKeys,
      db,
      mode,
      merchantUsers,
      deliveries: webhooks,
      operators,
      auditLog,
      sessions,
      consoleSessions,
      publicUrl,
      payOrders: pay.orders,
      refunds: pay.refunds,
      connectOrders: connect.orders,
    }),
  ];
  if (mode === 'sandbox')
    operator.push(
      createSandboxModule({
        adminToken,
        db,
        clock,
        accounts,
        orders: pay.orders,
        payers,
        onClockAdvance: kickLoops,
        sharedClock: clockSync ?? undefined,
        mailer,
        mode,
        operatorSession: (req) => consoleSessions.operator(req),
      }),
    );
  const modules = [platform, ...domains, ...operator];

  // Handlers given by the caller (tests) take precedence over the modules' own.
  const outboxHandlers: Record<string, OutboxHandler> = Object.assign(
    {},
    ...modules.map((m) => m.outboxHandlers ?? {}),
    opts.outboxHandlers ?? {},
  );
  // Slot classes, so no class waits behind another; every topic not in one shares the worker's 'internal' class
  // (refund completion, buy-flow steps, KYC checks).
  const outboxWorker = createOutboxWorker({
    db,
    clock,
    handlers: outboxHandlers,
    logger,
    classes: modules.flatMap((m) => m.outboxClasses ?? []),
  });

  const services = {
    audit,
    auditLog,
    operators,
    consoleSessions,
    acquirer,
    buyflow: buyflow.buyflow,
    db,
    clock,
    ids,
    box,
    ledger,
    outbox,
    prices,
    accounts,
    sessions,
    signingKeys,
    orders: pay.orders,
    payers,
    logger,
    outboxHandlers,
    mailer,
    webhookFamilies,
    webhooks,
    refunds: pay.refunds,
    reports: pay.reports,
    kyc: kyc.kyc,
    merchantUsers,
    tsp: tsp.tsp,
    chain: chain.chain,
    settlement: pay.settlement,
    partners: connect.partners,
    catalog: connect.catalog,
    connectOrders: connect.orders,
    connectPreOrders: connect.preOrders,
    connectSandbox: connect.sandbox,
  };

  async function createServer(): Promise<FastifyInstance> {
    const app = await createHttp({
      logger,
      trustedProxies: config.trustedProxies,
      publicUrl,
      metricsToken: config.metricsToken,
    });
    // Another process may have moved the sandbox clock: a request sees every advance committed before it arrived.
    if (clockSync)
      app.addHook('onRequest', async (req) => {
        if (req.url !== '/healthz') await clockSync.refreshIfOlderThan(CLOCK_FRESH_MS).catch(() => {});
      });
    app.setNotFoundHandler((_req, reply) =>
      reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'Not found.' } }),
    );
    app.setErrorHandler((error: FastifyError, req, reply) => {
      // Signed families answer their own errors (src/platform/signed-route.ts). A client's error here (an unparsable
      // Content-Type, a body too large) is an info line; only what is left is an unknown error worth an error line.
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (status < 500) logger.info({ code: error.code, url: req.url }, 'client request refused');
      if (error.validation) return reply.code(400).send({ error: { code: 'INVALID_REQUEST', message: error.message } });
      if (status >= 500) logger.error({ err: error }, 'request failed');
      return reply.code(status).send({
        error: {
          code: status >= 500 ? 'INTERNAL' : 'BAD_REQUEST',
          message: status >= 500 ? 'Internal error.' : error.message,
        },
      });
    });
    for (const m of modules) m.routes?.(app);
    await app.ready();
    return app;
  }

  /** Background work: every module's loops and the outbox pool. */
  function startWorkers(opts2: { idleMs?: number } = {}) {
    const idleMs = opts2.idleMs ?? 500;
    for (const w of modules.flatMap((m) => m.workers ?? []))
      loops.push(startLoop(w.name, w.tick, { idleMs: w.idleMs?.(idleMs) ?? idleMs, logger }));
    loops.push(outboxWorker.start({ idleMs: Math.min(idleMs, 250) }));
  }

  /** Stops the background loops, the chain, and the revocation listener (everything that holds the process open). */
  async function stopWorkers() {
    await stopCredentialsListener();
    await Promise.all(loops.splice(0).map((l) => l.stop()));
    await chain.chain.stop();
  }

  return { services, createServer, startWorkers, stopWorkers, outboxWorker };
}

export type App = Awaited<ReturnType<typeof buildApp>>;
