import type { FastifyInstance } from 'fastify';
import { createAccountsService, createSessions } from './accounts/service.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import type { Config } from './config.ts';
import { createPayAuth } from './pay/auth.ts';
import { registerCheckoutRoutes } from './pay/checkout/routes.ts';
import { payFailure } from './pay/codes.ts';
import { createOrderService } from './pay/orders/service.ts';
import { envelope, ownAccountOnly, registerPayRoutes } from './pay/routes.ts';
import { createSystemClock, type Clock } from './platform/clock.ts';
import { createSecretBox, sha256Hex } from './platform/crypto.ts';
import type { Db } from './platform/db/client.ts';
import { createHttp } from './platform/http.ts';
import { createIdGenerator } from './platform/ids.ts';
import { createLedger } from './platform/ledger/service.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { createOutbox, createOutboxWorker, type OutboxHandler } from './platform/outbox/service.ts';
import { createSigningKeys } from './platform/signing-keys.ts';
import { startLoop, type Loop } from './platform/worker.ts';
import { createSandboxPriceSource, type PriceSource } from './prices/service.ts';
import { createSandboxPayers, loadClockOffset, registerSandboxRoutes } from './sandbox/routes.ts';

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
}

export async function buildApp(opts: AppOptions) {
  const { config, db } = opts;
  const logger = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? createSystemClock(await loadClockOffset(db));
  const ids = createIdGenerator();
  const box = createSecretBox(opts.secretsKey);
  const ledger = createLedger({ db, clock });
  const outbox = createOutbox({ clock, ids });
  const prices = opts.prices ?? createSandboxPriceSource({ clock });
  const accounts = createAccountsService({ db, clock, box });
  const sessions = createSessions({ db, clock });
  const signingKeys = createSigningKeys({ db, box, clock, ids });
  const orders = createOrderService({
    db, clock, ids, ledger, outbox, prices, accounts, config: config.pay, openIdSalt: sha256Hex(`open-user-id:${opts.secretsKey}`),
  });
  const payers = createSandboxPayers({ db, accounts, ledger, ids });
  const payAuth = createPayAuth({ db, accounts, config: config.pay });

  const outboxHandlers: Record<string, OutboxHandler> = { ...(opts.outboxHandlers ?? {}) };
  const services = { db, clock, ids, box, ledger, outbox, prices, accounts, sessions, signingKeys, orders, payers, logger, outboxHandlers };

  async function createServer(): Promise<FastifyInstance> {
    const app = await createHttp({ logger, trustedProxies: config.trustedProxies, publicUrl: config.publicUrl });
    app.setNotFoundHandler((req, reply) => {
      if (req.url.startsWith('/binancepay/')) return reply.code(404).type('application/json').send(envelope({ code: '400000', message: 'Not found.' }));
      return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'Not found.' } });
    });
    app.setErrorHandler((error: any, req, reply) => {
      if (req.url.startsWith('/binancepay/')) {
        const f = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? payFailure('400104') : payFailure('400000');
        if (f.code === '400000') logger.error({ err: error }, 'pay request failed');
        return reply.code(200).type('application/json').send(envelope(f));
      }
      if (error.validation) return reply.code(400).send({ error: { code: 'INVALID_REQUEST', message: error.message } });
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (status >= 500) logger.error({ err: error }, 'request failed');
      return reply.code(status).send({ error: { code: status >= 500 ? 'INTERNAL' : 'BAD_REQUEST', message: status >= 500 ? 'Internal error.' : error.message } });
    });

    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
      try {
        await db.query('SELECT 1');
        return { status: 'ready', database: 'ok' };
      } catch (e: any) {
        return reply.code(503).send({ status: 'not ready', database: String(e?.message ?? e) });
      }
    });

    registerPayRoutes(app, {
      auth: payAuth, resolveActor: ownAccountOnly, orders, prices, signingKeys, publicUrl: config.publicUrl,
      ledgerBalances: (merchantId) => ledger.balances(db, 'merchant', merchantId),
    });
    registerCheckoutRoutes(app, { db, clock, orders, accounts, sessions, ledger, prices, publicUrl: config.publicUrl, mode: config.mode });
    registerAdminRoutes(app, { adminToken: opts.adminToken, accounts, ledger, signingKeys, db });
    if (config.mode === 'sandbox') {
      registerSandboxRoutes(app, { adminToken: opts.adminToken, db, clock, accounts, orders, payers, onClockAdvance: () => loops.forEach((l) => l.kick()) });
    }
    await app.ready();
    return app;
  }

  const loops: Loop[] = [];
  const outboxWorker = createOutboxWorker({ db, clock, handlers: outboxHandlers, logger });

  /** Background work: order expiry, nonce pruning, outbox delivery. */
  function startWorkers(opts2: { idleMs?: number } = {}) {
    const idleMs = opts2.idleMs ?? 500;
    loops.push(startLoop('pay-expiry', async () => {
      const n = await orders.expireDue();
      await db.query(`DELETE FROM pay_nonces WHERE seen_at < $1`, [Date.now() - 2 * config.pay.timestampToleranceMs]);
      return n;
    }, { idleMs, logger }));
    loops.push(startLoop('outbox', () => outboxWorker.runOnce(), { idleMs: Math.min(idleMs, 250), logger }));
  }

  async function stopWorkers() {
    await Promise.all(loops.splice(0).map((l) => l.stop()));
  }

  return { services, createServer, startWorkers, stopWorkers, outboxWorker };
}

export type App = Awaited<ReturnType<typeof buildApp>>;
