import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, payClient, v3Order } from './helpers.ts';

/**
 * The README quick start as a real process: embedded defaults, demo seed on first start, operations endpoints,
 * and unpaid orders expiring by themselves across a crash and restart.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'rampart-qs-'));
let child: ChildProcess | null = null;
after(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(port: number): Promise<{ proc: ChildProcess; output: () => string }> {
  let out = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      RAMPART_MODE: 'sandbox',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (out.includes('demo accounts')) return { proc, output: () => out };
    if (proc.exitCode !== null) throw new Error(`server exited: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start: ${out}`);
}

test('npm start: embedded defaults, demo seed, ops endpoints; expiry survives a SIGKILL', async () => {
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const first = await start(port);
  child = first.proc;
  assert.match(first.output(), /listening on/);
  assert.match(first.output(), /\/docs/);
  assert.match(first.output(), /admin token/);
  const credsFile = readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8');
  const creds = JSON.parse(credsFile);
  assert.match(creds.merchant.apiKey, /^[a-z0-9]{64}$/);
  assert.equal(creds.payer.balances.USDT, '10000');
  assert.equal(creds.dashboard.email, 'merchant@demo.rampart.test');
  assert.match(creds.partner.portal.password, /^[a-z0-9]{20}$/);
  const partnerKey = readFileSync(join(dataDir, 'demo-partner-key.pem'), 'utf8');
  assert.match(partnerKey, /^-----BEGIN PRIVATE KEY-----/);

  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const ready = await (await fetch(`${base}/readyz`)).json();
  assert.equal(ready.status, 'ready');
  assert.equal(ready.database, 'ok');
  assert.match(await (await fetch(`${base}/metrics`)).text(), /http_request_duration_seconds/);
  const openapi = await (await fetch(`${base}/openapi.json`)).json();
  assert.ok(openapi.paths['/binancepay/openapi/v3/order'].post.requestBody);
  assert.ok(openapi.paths['/admin/v1/merchants'].post);
  assert.equal((await fetch(`${base}/docs/`)).status, 200);

  const client = payClient(base, creds.merchant.apiKey, creds.merchant.apiSecret);
  const created = await client.post('/v3/order', v3Order({ orderExpireTime: Date.now() + 2_000 }));
  assert.equal(created.json.status, 'SUCCESS', created.text);
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  await new Promise((r) => setTimeout(r, 2_500));

  const second = await start(port);
  child = second.proc;
  assert.doesNotMatch(second.output(), /created now/, 'demo accounts are seeded once');
  assert.doesNotMatch(second.output(), /admin token\s+\S+\s+\(generated now/);
  assert.equal(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8'), credsFile, 'the credentials stay');
  assert.equal(readFileSync(join(dataDir, 'demo-partner-key.pem'), 'utf8'), partnerKey);
  let status = '';
  for (let i = 0; i < 50 && status !== 'EXPIRED'; i++) {
    status = (await client.post('/v2/order/query', { prepayId: created.json.data.prepayId })).json.data.status;
    if (status !== 'EXPIRED') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 'EXPIRED');
  second.proc.kill('SIGTERM');
  await new Promise((r) => second.proc.once('exit', r));
});
