import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMerchant, DB_KINDS, snapshot, startTestApp, type TestApp } from './helpers.ts';
import { onboardPartner } from './support/connect-client.ts';
import {
  casesOf,
  ENDPOINTS,
  routePaths,
  runCase,
  SIGNED_PREFIXES,
  type Credentials,
} from './support/signed-conformance.ts';

/**
 * Every signed endpoint of Binance Pay, Binance Connect (both generations) and KYC Sharing answers the same malformed
 * requests (missing or bad authentication, wrong transport, bad content) with its family's exact envelope and code, and
 * none of them changes a row (the Pay nonce table aside). The table is test/support/signed-conformance.ts.
 * One app per database; the cases of an endpoint run in parallel, endpoints one after another, with a row
 * snapshot between them. Known deviations from the specs are todo cases, run last, each on its own.
 */
for (const kind of DB_KINDS) {
  describe(`signed conformance (${kind})`, () => {
    let t: TestApp;
    let c: Credentials;
    let rows: Record<string, number> | null = null;

    before(async () => {
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '1000000' } });
      const [m, p, b] = await Promise.all([
        createMerchant(t, { name: 'Conformance Shop' }),
        onboardPartner(t),
        t.admin('POST', '/admin/v1/brokers', {
          name: 'Conformance broker',
          partialSharing: false,
          ipWhitelist: ['127.0.0.1'],
        }),
      ]);
      assert.equal(b.status, 201, JSON.stringify(b.json));
      c = {
        pay: { apiKey: m.apiKey, apiSecret: m.apiSecret, merchantId: m.merchantId },
        connect: { merchantCode: p.merchantCode, privateKey: p.keys.privateKey },
        connect2: {
          // One onboarding gives both generations' credentials (binance-connect-v2.md §13).
          clientId: (p as typeof p & { clientId: string }).clientId,
          signAccessToken: (p as typeof p & { signAccessToken: string }).signAccessToken,
          privateKey: p.keys.privateKey,
        },
        kyc: { bizEntityKey: b.json.bizEntityKey, secret: b.json.secret },
      };
      // The webhook signing key is made on first use: make it now, so no case can be the first use.
      assert.equal((await m.client.post('/certificates')).json.code, '000000');
    });
    after(() => t.close());

    test('the endpoint list is exactly the signed routes the app registers', async () => {
      const server = await t.app.createServer();
      try {
        const registered = routePaths(server.printRoutes({ commonPrefix: false })).filter((p) =>
          SIGNED_PREFIXES.some((s) => p.startsWith(s)),
        );
        assert.ok(registered.length > 0, 'no signed route found in the route table');
        assert.deepEqual(registered, ENDPOINTS.map((e) => e.path).sort());
      } finally {
        await server.close();
      }
    });

    for (const ep of ENDPOINTS) {
      test(`${ep.path}`, { concurrency: true }, async (s) => {
        const before = rows ?? (await snapshot(t.db));
        await Promise.all(
          casesOf(ep).map(({ id, answer }) => {
            if ('notApplicable' in answer) return s.test(id, { skip: answer.notApplicable });
            if (answer.todo) return s.test(id, { skip: 'a known deviation: run with the todo cases below' });
            return s.test(id, () => runCase(t.baseUrl, ep, id, c, answer));
          }),
        );
        rows = await snapshot(t.db);
        assert.deepEqual(rows, before, `a case of ${ep.path} changed a row`);
      });
    }

    test('known deviations from the specs (todo): each asserts the answer the spec gives, and no row change', async (s) => {
      for (const ep of ENDPOINTS) {
        for (const { id, answer } of casesOf(ep)) {
          if ('notApplicable' in answer || !answer.todo) continue;
          await s.test(`${ep.path}: ${id}`, { todo: answer.todo }, async () => {
            const before = await snapshot(t.db);
            await runCase(t.baseUrl, ep, id, c, answer);
            assert.deepEqual(await snapshot(t.db), before, 'rows changed');
          });
        }
      }
    });
  });
}
