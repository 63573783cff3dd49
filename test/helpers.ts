import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildApp, type App } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { signPay } from '../src/pay/auth.ts';
import { createManualClock, type Clock } from '../src/platform/clock.ts';
import { randomAlnum } from '../src/platform/crypto.ts';
import { PGlite } from '@electric-sql/pglite';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openPg, openPglite, wrapPglite, type Db } from '../src/platform/db/client.ts';
import { createLogger, type Logger } from '../src/platform/logger.ts';
import type { OutboxHandler } from '../src/platform/outbox/service.ts';

/**
 * Test harness: a fresh database per test (PGlite loaded from a migrated template, or a fresh schema on
 * PostgreSQL), the whole app on a real HTTP server on an ephemeral port.
 */
export const PG_URL = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || '';
export type DbKind = 'pglite' | 'pg';
export const DB_KINDS: DbKind[] = PG_URL ? ['pglite', 'pg'] : ['pglite'];

let template: Promise<Blob> | null = null;
async function pgliteTemplate(): Promise<Blob> {
  template ??= (async () => {
    const lite = new PGlite();
    await migrate(wrapPglite(lite));
    const blob = (await lite.dumpDataDir('none')) as Blob;
    await lite.close();
    return blob;
  })();
  return template;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function openTestDb(kind: DbKind): Promise<{ db: Db; drop: () => Promise<void> }> {
  if (kind === 'pglite') {
    const db = await openPglite(undefined, await pgliteTemplate());
    return { db, drop: () => db.close() };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = openPg(PG_URL, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const db = openPg(PG_URL, { searchPath: schema, max: 20 });
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.close();
    },
  };
}

export interface TestApp {
  app: App;
  db: Db;
  baseUrl: string;
  adminToken: string;
  clock: Clock & { advance?(ms: number): void };
  config: Config;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export async function startTestApp(
  opts: {
    kind?: DbKind;
    clock?: Clock;
    env?: Record<string, string>;
    workers?: boolean;
    outboxHandlers?: Record<string, OutboxHandler>;
    /** Shorter per-attempt webhook timeout (chaos tests); the app default stays 5 s. */
    webhookTimeoutMs?: number;
    /** The app's logger (tests that assert on log lines); default silent. */
    logger?: Logger;
  } = {},
): Promise<TestApp> {
  const { db, drop } = await openTestDb(opts.kind ?? 'pglite');
  const adminToken = randomAlnum(40);
  const secretsKey = randomBytes(32).toString('hex');
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  // Each app gets its own DATA_DIR (embedded chain state, generated files), never the developer's ./data.
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-test-'));
  const config = loadConfig({
    RAMPART_MODE: 'sandbox',
    LOG_LEVEL: 'silent',
    PORT: String(port),
    PUBLIC_URL: baseUrl,
    DATA_DIR: dataDir,
    // Anvil mines on demand here: the chain loop may poll it often, so tests wait for blocks, not for the loop.
    CHAIN_POLL_MS: '100',
    ...opts.env,
  });
  const clock = opts.clock ?? createManualClock(Date.now());
  const app = await buildApp({
    config,
    db,
    adminToken,
    secretsKey,
    clock,
    logger: opts.logger ?? createLogger((process.env.TEST_LOG_LEVEL as any) ?? 'silent'),
    outboxHandlers: opts.outboxHandlers,
    webhookTimeoutMs: opts.webhookTimeoutMs,
  });
  const server = await app.createServer();
  await server.listen({ port, host: '127.0.0.1' });
  if (opts.workers) app.startWorkers({ idleMs: 50 });
  return {
    app,
    db,
    baseUrl,
    adminToken,
    clock,
    config,
    async admin(method, path, body) {
      const res = await fetch(baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    },
    async close() {
      await app.stopWorkers();
      await server.close();
      await drop();
      if (config.dataDir === dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface PayClient {
  apiKey: string;
  secret: string;
  /** Signed POST with the exact body text given (string) or JSON.stringify of an object. */
  post(
    path: string,
    body?: unknown,
    opts?: { headers?: Record<string, string>; timestamp?: string; nonce?: string; rawBody?: string },
  ): Promise<{ status: number; json: any; text: string }>;
}

export function payClient(baseUrl: string, apiKey: string, secret: string): PayClient {
  return {
    apiKey,
    secret,
    async post(path, body, opts = {}) {
      const raw = opts.rawBody ?? (body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
      const timestamp = opts.timestamp ?? String(Date.now());
      const nonce = opts.nonce ?? randomAlnum(32);
      const res = await fetch(`${baseUrl}/binancepay/openapi${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'BinancePay-Timestamp': timestamp,
          'BinancePay-Nonce': nonce,
          'BinancePay-Certificate-SN': apiKey,
          'BinancePay-Signature': signPay(secret, timestamp, nonce, raw),
          ...opts.headers,
        },
        body: raw,
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null, text };
    },
  };
}

export async function createMerchant(t: TestApp, body: Record<string, unknown> = { name: 'Test Merchant' }) {
  const r = await t.admin('POST', '/admin/v1/merchants', body);
  if (r.status !== 201) throw new Error(`create merchant: ${r.status} ${JSON.stringify(r.json)}`);
  return { ...r.json, client: payClient(t.baseUrl, r.json.apiKey, r.json.apiSecret) } as {
    merchantId: string;
    merchantName: string;
    apiKey: string;
    apiSecret: string;
    client: PayClient;
  };
}

export async function createPayer(
  t: TestApp,
  email: string,
  balances: Record<string, string>,
  password = 'payer-password-1',
) {
  const r = await t.admin('POST', '/sandbox/v1/payers', { email, password, balances });
  if (r.status !== 201) throw new Error(`create payer: ${r.status} ${JSON.stringify(r.json)}`);
  return { ...r.json, password } as {
    payerId: string;
    email: string;
    password: string;
    balances: Record<string, string>;
  };
}

let tradeNo = 0;
export const nextTradeNo = () => `T${Date.now()}${++tradeNo}`;

export function v3Order(overrides: Record<string, unknown> = {}) {
  return {
    env: { terminalType: 'WEB' },
    merchantTradeNo: nextTradeNo(),
    orderAmount: '25.17',
    currency: 'USDT',
    description: 'Ice cream',
    goodsDetails: [
      {
        goodsType: '01',
        goodsCategory: 'D000',
        referenceGoodsId: '7876763A3B',
        goodsName: 'Ice Cream',
        goodsDetail: 'Vanilla',
      },
    ],
    ...overrides,
  };
}

/**
 * Every table's row count: a cheap fingerprint to show a rejected request changed nothing. Never counted: the
 * operator audit log and used console form keys, which record what was asked (a refused admin call is logged), not
 * state a request changed.
 */
const REQUEST_LOGS = ['operator_audit_log', 'console_form_keys'];
export async function snapshot(db: Db, except: string[] = ['pay_nonces']): Promise<Record<string, number>> {
  const tables = (
    await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
        AND table_type = 'BASE TABLE' ORDER BY table_name`,
    )
  ).rows
    .map((r) => r.table_name)
    .filter((t) => !except.includes(t) && !REQUEST_LOGS.includes(t));
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = Number((await db.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
  const sums = (
    await db.query(
      `SELECT coalesce(sum(posted),0)::text AS p, coalesce(sum(held),0)::text AS h, (SELECT string_agg(status, ','
        ORDER BY prepay_id) FROM pay_orders) AS s FROM ledger_accounts`,
    )
  ).rows[0];
  out['ledger_posted_abs'] = 0;
  (out as any).fingerprint = `${sums.p}|${sums.h}|${sums.s}`;
  return out;
}

export async function assertAuditOk(t: TestApp) {
  const r = await t.admin('GET', '/admin/v1/ledger/audit');
  if (r.status !== 200 || !r.json.ok) throw new Error(`ledger audit failed: ${JSON.stringify(r.json)}`);
  return r.json;
}

/**
 * Waits until the background workers have handled every due outbox row of the given topics (default: all but webhooks
 * and mail).
 */
export async function waitForOutbox(t: TestApp, topics?: string[], timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await t.db.query(
      `SELECT count(*) AS n FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= $1 AND ($2::text[] IS NULL
        AND topic NOT IN ('webhook', 'mail') OR topic = ANY($2::text[]))`,
      [t.clock.now(), topics ?? null],
    );
    if (Number(r.rows[0].n) === 0) return;
    if (Date.now() > deadline) throw new Error('outbox did not drain');
    await new Promise((res) => setTimeout(res, 20));
  }
}
