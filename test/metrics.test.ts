import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers.ts';

/** /metrics answers loopback only, or anyone with the METRICS_TOKEN bearer token (shared/spec/platform.md). */
async function scrape(t: TestApp, remoteAddress: string, headers: Record<string, string> = {}) {
  const server = await t.app.createServer();
  try {
    const r = await server.inject({ method: 'GET', url: '/metrics', remoteAddress, headers });
    return { status: r.statusCode, body: r.body };
  } finally {
    await server.close();
  }
}

describe('/metrics access', () => {
  test('without METRICS_TOKEN: loopback only; a proxied request is not loopback', async () => {
    const t = await startTestApp();
    try {
      const local = await fetch(`${t.baseUrl}/metrics`);
      assert.equal(local.status, 200);
      assert.match(await local.text(), /http_request_duration_seconds/);
      assert.equal((await scrape(t, '::1')).status, 200);
      assert.equal((await scrape(t, '203.0.113.7')).status, 403);
      assert.equal((await scrape(t, '10.0.0.5', { authorization: 'Bearer anything' })).status, 403);
      assert.equal((await scrape(t, '127.0.0.1', { 'x-forwarded-for': '203.0.113.7' })).status, 403);
      const refused = await scrape(t, '203.0.113.7');
      assert.doesNotMatch(refused.body, /http_request_duration_seconds/);
    } finally {
      await t.close();
    }
  });

  test('with METRICS_TOKEN: others need the bearer token; loopback still answers', async () => {
    const token = 'metrics-token-Zq81xWv3Lk29';
    const t = await startTestApp({ env: { METRICS_TOKEN: token } });
    try {
      assert.equal((await fetch(`${t.baseUrl}/metrics`)).status, 200);
      assert.equal((await scrape(t, '203.0.113.7')).status, 401);
      assert.equal((await scrape(t, '203.0.113.7', { authorization: 'Bearer wrong' })).status, 401);
      assert.equal((await scrape(t, '203.0.113.7', { authorization: `Basic ${token}` })).status, 401);
      const ok = await scrape(t, '203.0.113.7', { authorization: `Bearer ${token}` });
      assert.equal(ok.status, 200);
      assert.match(ok.body, /http_request_duration_seconds/);
    } finally {
      await t.close();
    }
  });
});
