import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort, payClient, v3Order } from './helpers.ts';
import { createPayWebhookVerifier } from './support/pay-webhook-verifier.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';

/**
 * The real server as a child process, killed with SIGKILL while webhook deliveries are pending (the receiver
 * is down). Restarted on the same data directory with the receiver up, it delivers every pending webhook
 * exactly once, and nothing for work that never committed.
 */
const ROOT = join(import.meta.dirname, '..');
const ADMIN_TOKEN = 'crash-test-admin-token-0123456789';

async function startServer(
  dataDir: string,
  port: number,
): Promise<{ child: ChildProcess; baseUrl: string; exited: Promise<number | null> }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    WORKERS: '1',
    RAMPART_MODE: 'sandbox',
  };
  delete env.DATABASE_URL; // its own embedded database in DATA_DIR
  delete env.PUBLIC_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    'server up',
    async () => {
      if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
      try {
        return (await fetch(`${baseUrl}/healthz`)).ok;
      } catch {
        return false;
      }
    },
    60_000,
    100,
  );
  return { child, baseUrl, exited };
}

describe('webhook delivery across a crash', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-crash-'));
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  test(
    'SIGKILL with deliveries pending: after restart each is delivered exactly once, none for uncommitted work',
    { timeout: 180_000 },
    async () => {
      const port = await freePort();
      const receiverPort = await freePort(); // nothing listens here yet: the receiver is down
      const hook = `http://127.0.0.1:${receiverPort}/hook`;

      const first = await startServer(dataDir, port);
      children.push(first.child);
      const admin = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(first.baseUrl + path, {
          method,
          headers: {
            authorization: `Bearer ${ADMIN_TOKEN}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
        return { status: res.status, json: (await res.json()) as any };
      };
      const mr = await admin('POST', '/admin/v1/merchants', { name: 'Crash Shop', webhookUrl: hook });
      assert.equal(mr.status, 201);
      const client = payClient(first.baseUrl, mr.json.apiKey, mr.json.apiSecret);
      assert.equal(
        (await admin('POST', '/sandbox/v1/payers', { email: 'rich@crash.test', balances: { USDT: '1000' } })).status,
        201,
      );
      assert.equal(
        (await admin('POST', '/sandbox/v1/payers', { email: 'poor@crash.test', balances: { USDT: '1' } })).status,
        201,
      );

      const committed: string[] = [];
      for (let i = 0; i < 6; i++) {
        const c = await client.post('/v3/order', v3Order({ orderAmount: '10' }));
        const prepayId = c.json.data.prepayId;
        if (i < 4)
          assert.equal(
            (await admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: 'rich@crash.test' })).status,
            200,
          );
        else assert.equal((await client.post('/order/close', { prepayId })).json.status, 'SUCCESS');
        committed.push(`${prepayId}|${i < 4 ? 'PAY_SUCCESS' : 'PAY_CLOSED'}`);
      }
      const refusedOrder = (await client.post('/v3/order', v3Order({ orderAmount: '10' }))).json.data.prepayId;
      const refused = await admin('POST', `/sandbox/v1/orders/${refusedOrder}/pay`, { payerEmail: 'poor@crash.test' });
      assert.equal(refused.json.error.code, 'INSUFFICIENT_FUNDS');

      // Every delivery has failed its first attempt (connection refused) and waits for its retry.
      await waitFor(
        'first attempts',
        async () => {
          const list = (await admin('GET', '/admin/v1/webhooks/deliveries?status=PENDING')).json.deliveries as any[];
          return list.length === committed.length && list.every((d) => d.attempts.length >= 1);
        },
        20_000,
        100,
      );
      await new Promise((r) => setTimeout(r, 200));
      first.child.kill('SIGKILL');
      await first.exited;

      const seen = new Map<string, number>();
      const rx = await startReceiver((r) => {
        const body = r.body.toString('utf8');
        const key = `${/"bizIdStr":"(\d+)"/.exec(body)![1]}|${/"bizStatus":"([A-Z_]+)"/.exec(body)![1]}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        return { status: 200, body: '{"returnCode":"SUCCESS","returnMessage":null}' };
      }, receiverPort);
      try {
        const second = await startServer(dataDir, port);
        children.push(second.child);
        // Bring the first retry due now rather than waiting 15 s of real time.
        assert.equal((await admin('POST', '/sandbox/v1/clock/advance', { ms: 15_000 })).status, 200);
        await waitFor('all delivered', () => committed.every((k) => seen.has(k)), 30_000, 50);
        const list = await waitFor(
          'log settled',
          async () => {
            const l = (await admin('GET', '/admin/v1/webhooks/deliveries?limit=500')).json.deliveries as any[];
            return l.every((d) => d.status === 'DELIVERED') && l;
          },
          10_000,
          100,
        );
        // Give a duplicate every chance to show up (staying short of the refused order's 1 h expiry, which would
        // rightly send its PAY_CLOSED).
        await admin('POST', '/sandbox/v1/clock/advance', { ms: 30 * 60_000 });
        await new Promise((r) => setTimeout(r, 1_500));

        assert.deepEqual([...seen.keys()].sort(), [...committed].sort());
        for (const k of committed) assert.equal(seen.get(k), 1, `${k} delivered ${seen.get(k)} times`);
        assert.ok(![...seen.keys()].some((k) => k.startsWith(refusedOrder)));
        assert.equal(list.length, committed.length);
        assert.ok(!list.some((d) => d.bizId === refusedOrder));
        const verifier = createPayWebhookVerifier(payClient(second.baseUrl, mr.json.apiKey, mr.json.apiSecret));
        for (const r of rx.received) await verifier.verify(r.headers, r.body);
        second.child.kill('SIGTERM');
        assert.equal(await second.exited, 0);
      } finally {
        await rx.close();
      }
    },
  );
});
