import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { payClient, PG_URL } from './helpers.ts';
import { processFixture } from './support/processes.ts';
import { waitFor } from './support/webhook-receiver.ts';

/**
 * Two API processes on one PostgreSQL database: an API key revoked, or an IP whitelist changed, through one of them
 * is refused by the other at once, not after the 5 s key cache (each process hears rampart_credentials).
 */
const ADMIN_TOKEN = 'credentials-test-admin-token-0123456789';

describe(
  'API key revocation across processes (PostgreSQL)',
  { skip: PG_URL ? false : 'needs DATABASE_URL or TEST_DATABASE_URL' },
  () => {
    const fx = processFixture('cred', ADMIN_TOKEN);
    const { startApi, admin } = fx;
    after(() => fx.close());

    test(
      'a key revoked through one API process is refused by the other on the next request; an IP whitelist change too',
      { timeout: 180_000 },
      async () => {
        await fx.create();
        const a = await startApi(); // migrates the new database
        const b = await startApi();

        const m = (await admin(a, 'POST', '/admin/v1/merchants', { name: 'Two Process Co' })).json;
        const onB = payClient(b, m.apiKey, m.apiSecret);
        const balance = async () => (await onB.post('/v2/balance', { wallet: 'FUNDING_WALLET' })).json;
        assert.equal((await balance()).status, 'SUCCESS', 'B knows (and caches) the key');
        assert.equal((await admin(a, 'DELETE', `/admin/v1/merchants/${m.merchantId}/keys/${m.apiKey}`)).status, 200);
        // The notification is delivered when the revocation commits: B refuses within a few milliseconds, well before
        // the 5 s cache lapses.
        const started = Date.now();
        await waitFor('B refuses the revoked key', async () => (await balance()).code === '400004', 1_000, 10);
        assert.ok(Date.now() - started < 1_000);

        const k = (await admin(a, 'POST', `/admin/v1/merchants/${m.merchantId}/keys`, {})).json;
        const onB2 = payClient(b, k.apiKey, k.apiSecret);
        assert.equal((await onB2.post('/v2/balance', { wallet: 'FUNDING_WALLET' })).json.status, 'SUCCESS');
        assert.equal(
          (await admin(a, 'PATCH', `/admin/v1/merchants/${m.merchantId}`, { ipWhitelist: ['10.9.9.9'] })).status,
          200,
        );
        await waitFor(
          'B applies the new whitelist',
          async () => (await onB2.post('/v2/balance', { wallet: 'FUNDING_WALLET' })).json.code === '400004',
          1_000,
          10,
        );
      },
    );
  },
);
