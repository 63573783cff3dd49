import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { freePort, payClient, PG_URL } from './helpers.ts';
import { waitFor } from './support/webhook-receiver.ts';

/**
 * Two API processes on one PostgreSQL database: an API key revoked, or an IP whitelist changed, through one of them
 * is refused by the other at once, not after the 5 s key cache (each process hears rampart_credentials).
 */
const ROOT = join(import.meta.dirname, '..');
const ADMIN_TOKEN = 'credentials-test-admin-token-0123456789';

describe('API key revocation across processes (PostgreSQL)', { skip: PG_URL ? false : 'needs DATABASE_URL or TEST_DATABASE_URL' }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-cred-'));
  const dbName = `rampart_cred_${randomBytes(5).toString('hex')}`;
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function startApi(): Promise<string> {
    const url = new URL(PG_URL);
    url.pathname = `/${dbName}`;
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env, DATA_DIR: dataDir, DATABASE_URL: url.toString(), ADMIN_TOKEN, SECRETS_KEY: 'cd'.repeat(32), LOG_LEVEL: 'silent', RAMPART_MODE: 'sandbox',
      PORT: String(port), WORKERS: '0',
    };
    delete env.PUBLIC_URL;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
    child.on('exit', (code) => { if (code) console.error(`server exited ${code}: ${stderr}`); });
    children.push(child);
    const base = `http://127.0.0.1:${port}`;
    await waitFor('API up', async () => {
      if (child.exitCode !== null) throw new Error('API process exited');
      return fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    }, 60_000, 100);
    return base;
  }
  const admin = async (base: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: await res.json() as any };
  };

  test('a key revoked through one API process is refused by the other on the next request; an IP whitelist change too', { timeout: 180_000 }, async () => {
    const setup = new pg.Client({ connectionString: PG_URL });
    await setup.connect();
    await setup.query(`CREATE DATABASE ${dbName}`);
    await setup.end();
    const a = await startApi(); // migrates the new database
    const b = await startApi();

    const m = (await admin(a, 'POST', '/admin/v1/merchants', { name: 'Two Process Co' })).json;
    const onB = payClient(b, m.apiKey, m.apiSecret);
    const balance = async () => (await onB.post('/v2/balance', { wallet: 'FUNDING_WALLET' })).json;
    assert.equal((await balance()).status, 'SUCCESS', 'B knows (and caches) the key');
    assert.equal((await admin(a, 'DELETE', `/admin/v1/merchants/${m.merchantId}/keys/${m.apiKey}`)).status, 200);
    // The notification is delivered when the revocation commits: B refuses within a few milliseconds, well before the 5 s cache lapses.
    const started = Date.now();
    await waitFor('B refuses the revoked key', async () => (await balance()).code === '400004', 1_000, 10);
    assert.ok(Date.now() - started < 1_000);

    const k = (await admin(a, 'POST', `/admin/v1/merchants/${m.merchantId}/keys`, {})).json;
    const onB2 = payClient(b, k.apiKey, k.apiSecret);
    assert.equal((await onB2.post('/v2/balance', { wallet: 'FUNDING_WALLET' })).json.status, 'SUCCESS');
    assert.equal((await admin(a, 'PATCH', `/admin/v1/merchants/${m.merchantId}`, { ipWhitelist: ['10.9.9.9'] })).status, 200);
    await waitFor('B applies the new whitelist', async () => (await onB2.post('/v2/balance', { wallet: 'FUNDING_WALLET' })).json.code === '400004', 1_000, 10);
  });
});
