import { randomBytes } from 'node:crypto';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { randomAlnum } from '../../src/platform/crypto.ts';
import type { Db } from '../../src/platform/db/client.ts';
import { createLogger } from '../../src/platform/logger.ts';
import type { Target } from '../lib/server.ts';

/**
 * The real application (buildApp + createServer) listening on `port`, with one merchant and its API key. No background
 * workers.
 */
export async function bootApp(db: Db, port: number) {
  const baseUrl = `http://127.0.0.1:${port}`;
  // BENCH_APP_ENV: a JSON object of extra configuration (e.g. {"PAY_REJECT_NONCE_REPLAY":"false"}) to measure a
  // variant.
  const extra = JSON.parse(process.env.BENCH_APP_ENV || '{}') as Record<string, string>;
  const config = loadConfig({
    RAMPART_MODE: 'sandbox',
    LOG_LEVEL: 'silent',
    PORT: String(port),
    PUBLIC_URL: baseUrl,
    ...extra,
  });
  const app: App = await buildApp({
    config,
    db,
    adminToken: randomAlnum(40),
    secretsKey: randomBytes(32).toString('hex'),
    logger: createLogger('silent'),
  });
  const server = await app.createServer();
  await server.listen({ port, host: '127.0.0.1' });
  const m = await app.services.accounts.createMerchant({ name: 'Bench Merchant' });
  if (!m.ok) throw new Error(`create merchant: ${m.code}`);
  return { app, server, baseUrl, merchant: m.value, config };
}

export async function startApp(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant: m } = await bootApp(db, port);
  return {
    info: { baseUrl, apiKey: m.apiKey, apiSecret: m.apiSecret, merchantId: m.merchantId },
    close: async () => {
      await server.close();
      await app.stopWorkers();
    },
  };
}
