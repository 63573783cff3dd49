import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertAuditOk,
  createMerchant,
  createPayer,
  DB_KINDS,
  snapshot,
  startTestApp,
  v3Order,
  type TestApp,
} from './helpers.ts';
import { consoleLogin, createOperator } from './support/console.ts';
import { onboardPartner, rsaPair } from './support/connect-client.ts';
import { formBrowser, type FormBrowser } from './support/form-browser.ts';

/**
 * The console's merchants, partners and brokers (issue #17) over HTTP: the admin API endpoints they needed (merchant
 * search and suspend, partner suspend and fees, broker read, partial sharing and secret rotation), and each page
 * action: done, refused when it does not apply (nothing changed), refused without the form's CSRF token.
 */
const flashOf = (b: FormBrowser) => {
  const raw = b.jar.get('rampart_console_flash');
  return raw ? (JSON.parse(decodeURIComponent(raw)) as { ok?: string; error?: string }) : undefined;
};

for (const kind of DB_KINDS) {
  describe(`console: merchants, partners, brokers (${kind})`, () => {
    let t: TestApp;
    let b: FormBrowser;

    before(async () => {
      t = await startTestApp({ kind });
      const admin = await createOperator(t, 'admin');
      b = formBrowser(t.baseUrl);
      assert.equal((await consoleLogin(b, admin)).status, 303);
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    /** Posts `form` to `action` with the CSRF token of `page`; the answer and the flash it left. */
    async function act(page: string, action: string, form: Record<string, string> = {}) {
      const r = await b.submit(page, action, form);
      return { ...r, flash: flashOf(b) };
    }
    const merchantRow = async (id: string) =>
      (await t.db.query(`SELECT status, webhook_url, features, payout_fee FROM merchants WHERE id = $1`, [id])).rows[0];

    describe('admin API', () => {
      test('merchants: search by name or id; suspend refuses signed requests (400606) and the dashboard log-in', async () => {
        const m = await createMerchant(t, { name: 'Blue Lagoon Café' });
        const other = await createMerchant(t, { name: 'Red Rock 100%_shop' });
        const byName = await t.admin('GET', '/admin/v1/merchants?q=lagoon');
        assert.deepEqual(
          byName.json.map((x: { merchantId: string }) => x.merchantId),
          [m.merchantId],
        );
        const byId = await t.admin('GET', `/admin/v1/merchants?q=${other.merchantId}`);
        assert.deepEqual(
          byId.json.map((x: { merchantId: string }) => x.merchantId),
          [other.merchantId],
        );
        // LIKE's wildcards are taken literally.
        const wild = await t.admin('GET', `/admin/v1/merchants?q=${encodeURIComponent('%_')}`);
        assert.deepEqual(
          wild.json.map((x: { merchantId: string }) => x.merchantId),
          [other.merchantId],
        );

        const user = await t.app.services.merchantUsers.createWithPassword(
          m.merchantId,
          'owner@lagoon.example',
          'a long password 1',
        );
        assert.ok(user.ok);
        const query = () => m.client.post('/v2/order/query', { prepayId: '123456789012345678' });
        assert.notEqual((await query()).json.code, '400606');

        const s = await t.admin('POST', `/admin/v1/merchants/${m.merchantId}/suspend`);
        assert.equal(s.status, 200);
        assert.equal(s.json.status, 'SUSPENDED');
        const refused = await query();
        assert.equal(refused.json.status, 'FAIL');
        assert.equal(refused.json.code, '400606');
        // A forged signature on a suspended merchant's key is still a bad signature: suspension reveals nothing.
        const forged = await fetch(`${t.baseUrl}/binancepay/openapi/v2/order/query`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'BinancePay-Timestamp': String(Date.now()),
            'BinancePay-Nonce': 'a'.repeat(32),
            'BinancePay-Certificate-SN': m.apiKey,
            'BinancePay-Signature': 'A'.repeat(128),
          },
          body: '{}',
        });
        assert.equal((await forged.json()).code, '400002');

        const dash = formBrowser(t.baseUrl);
        const login = await dash.submit('/en/dashboard/login', '/en/dashboard/login', {
          email: 'owner@lagoon.example',
          password: 'a long password 1',
        });
        assert.equal(login.status, 403);
        assert.match(login.body, /suspended/);
        assert.ok(!dash.jar.has('rampart_dash'), 'no session for a suspended merchant');

        const again = await t.admin('POST', `/admin/v1/merchants/${m.merchantId}/suspend`);
        assert.equal(again.status, 409);
        assert.equal(again.json.error.code, 'MERCHANT_STATUS');

        assert.equal((await t.admin('POST', `/admin/v1/merchants/${m.merchantId}/reactivate`)).status, 200);
        assert.notEqual((await query()).json.code, '400606');
        const back = await dash.submit('/en/dashboard/login', '/en/dashboard/login', {
          email: 'owner@lagoon.example',
          password: 'a long password 1',
        });
        assert.equal(back.status, 303);
        assert.equal((await t.admin('POST', `/admin/v1/merchants/${m.merchantId}/reactivate`)).status, 409);
        assert.equal((await t.admin('POST', `/admin/v1/merchants/999999999/suspend`)).status, 404);
      });

      test('a suspended merchant receives nothing: its open order cannot be paid until it is reactivated', async () => {
        const m = await createMerchant(t, { name: 'Frozen Yogurt Ltd' });
        const order = await m.client.post('/v3/order', v3Order({ orderAmount: '12' }));
        const prepayId = order.json.data.prepayId;
        const payer = await createPayer(t, `frozen-${kind}-${Date.now()}@example.com`, { USDT: '50' });
        assert.equal((await t.admin('POST', `/admin/v1/merchants/${m.merchantId}/suspend`)).status, 200);
        const before = await snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts', 'outbox']);
        const refused = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: payer.email });
        assert.equal(refused.status, 409, JSON.stringify(refused.json));
        assert.match(JSON.stringify(refused.json), /not accepting payments/);
        assert.deepEqual(await snapshot(t.db, ['pay_nonces', 'webhook_delivery_attempts', 'outbox']), before);
        assert.equal((await t.admin('POST', `/admin/v1/merchants/${m.merchantId}/reactivate`)).status, 200);
        const paid = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: payer.email });
        assert.equal(paid.status, 200, JSON.stringify(paid.json));
      });

      test('partners: suspend / reactivate refused from the same state; fees changed within their bounds', async () => {
        const p = await onboardPartner(t, { name: 'Fee Wallet' });
        const s = await t.admin('POST', `/admin/v1/partners/${p.merchantCode}/suspend`);
        assert.equal(s.status, 200);
        assert.equal(s.json.status, 'DISABLED');
        assert.equal((await p.client.call('get-crypto-network-list')).json.code, 'OPE100000006');
        const again = await t.admin('POST', `/admin/v1/partners/${p.merchantCode}/suspend`);
        assert.equal(again.status, 409);
        assert.equal(again.json.error.code, 'PARTNER_STATUS');
        assert.equal((await t.admin('POST', `/admin/v1/partners/${p.merchantCode}/reactivate`)).status, 200);
        assert.equal((await p.client.call('get-crypto-network-list')).json.code, '000000');
        assert.equal((await t.admin('POST', `/admin/v1/partners/${p.merchantCode}/reactivate`)).status, 409);
        assert.equal((await t.admin('POST', `/admin/v1/partners/nobody_test/suspend`)).status, 404);

        const fees = await t.admin('PATCH', `/admin/v1/partners/${p.merchantCode}`, {
          feePct: '0.025',
          minFeeUsd: '2.5',
          spread: '0.002',
        });
        assert.equal(fees.status, 200);
        assert.deepEqual([fees.json.feePct, fees.json.minFeeUsd, fees.json.spread], ['0.025', '2.5', '0.002']);
        const tooHigh = await t.admin('PATCH', `/admin/v1/partners/${p.merchantCode}`, { feePct: '0.9', spread: '0' });
        assert.equal(tooHigh.status, 400);
        const now = await t.admin('GET', `/admin/v1/partners/${p.merchantCode}`);
        assert.deepEqual([now.json.feePct, now.json.spread], ['0.025', '0.002'], 'a refused patch changes nothing');
      });

      test('brokers: read one without its secret, partial sharing, secret rotation', async () => {
        const made = await t.admin('POST', '/admin/v1/brokers', { name: 'Rotate Broker', ipWhitelist: ['127.0.0.1'] });
        assert.equal(made.status, 201);
        const key = made.json.bizEntityKey;
        const one = await t.admin('GET', `/admin/v1/brokers/${key}`);
        assert.equal(one.status, 200);
        assert.equal(one.json.name, 'Rotate Broker');
        assert.equal(one.json.sharingMode, 'STANDARD');
        assert.equal(one.json.secret, undefined);
        assert.equal((await t.admin('GET', '/admin/v1/brokers/NOSUCHBROKER')).status, 404);

        const partial = await t.admin('PATCH', `/admin/v1/brokers/${key}`, { partialSharing: true });
        assert.equal(partial.json.sharingMode, 'PARTIAL');

        const rotated = await t.admin('POST', `/admin/v1/brokers/${key}/secret`);
        assert.equal(rotated.status, 200);
        assert.match(rotated.json.secret, /^[A-Za-z0-9]{48}$/);
        assert.notEqual(rotated.json.secret, made.json.secret);
        assert.equal((await t.app.services.kyc.getBroker(key))!.secret, rotated.json.secret);
        const sealed = (await t.db.query(`SELECT secret_sealed FROM kyc_brokers WHERE biz_entity_key = $1`, [key]))
          .rows[0].secret_sealed;
        assert.ok(!String(sealed).includes(rotated.json.secret), 'stored sealed');
        assert.equal((await t.admin('POST', '/admin/v1/brokers/NOSUCHBROKER/secret')).status, 404);
      });
    });

    describe('merchant pages', () => {
      let merchantId: string;

      test('create: the first key and its secret on the answer page only, a dashboard user invited', async () => {
        const noCsrf = await b.post('/admin/merchants', { name: 'Forged Shop' });
        assert.equal(noCsrf.status, 403);
        assert.equal((await t.admin('GET', '/admin/v1/merchants?q=Forged')).json.length, 0);

        const before = b.setCookies.length;
        const r = await act('/admin/merchants', '/admin/merchants', {
          name: 'Console Shop',
          webhookUrl: 'https://shop.example/hook',
          ipWhitelist: '127.0.0.1\n10.0.0.0/8',
          email: 'owner@console-shop.example',
        });
        assert.equal(r.status, 201);
        merchantId = /Merchant (\d+) created/.exec(r.body)![1]!;
        const secret = /<textarea id="secret"[^>]*>([A-Za-z0-9]+)<\/textarea>/.exec(r.body)![1]!;
        assert.match(r.body, /Shown once/);
        assert.match(r.body, /mailed to owner@console-shop\.example/);
        assert.ok(!b.setCookies.slice(before).some((c) => c.includes(secret)), 'the secret is in no cookie');
        const detail = await t.admin('GET', `/admin/v1/merchants/${merchantId}`);
        assert.equal(detail.json.webhookUrl, 'https://shop.example/hook');
        assert.deepEqual(detail.json.keys[0].ipWhitelist, ['127.0.0.1', '10.0.0.0/8']);
        const page = await b.get(`/admin/merchants/${merchantId}`);
        assert.equal(page.status, 200);
        assert.ok(!page.body.includes(secret), 'the merchant page never shows the secret again');
        assert.equal((await t.app.services.mailer.list('owner@console-shop.example')).length, 1);

        const bad = await act('/admin/merchants', '/admin/merchants', { name: 'Bad Hook', webhookUrl: 'not a url' });
        assert.equal(bad.status, 303);
        assert.match(bad.flash?.error ?? '', /Not created/);
        assert.equal((await t.admin('GET', '/admin/v1/merchants?q=Bad%20Hook')).json.length, 0);

        const list = await b.get('/admin/merchants?q=console%20shop');
        assert.ok(list.body.includes(`href="/admin/merchants/${merchantId}"`));
        const none = await b.get('/admin/merchants?q=nothing-like-this');
        assert.match(none.body, /No merchant matches/);
      });

      test('API keys: created with a permission (secret shown once), revoked once', async () => {
        const page = `/admin/merchants/${merchantId}`;
        assert.equal((await b.post(`${page}/keys`, { permissions: 'PAYOUT' })).status, 403);
        assert.equal((await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json.keys.length, 1);

        const r = await act(page, `${page}/keys`, { permissions: 'PAYOUT', ipWhitelist: '127.0.0.1' });
        assert.equal(r.status, 201);
        const apiKey = /<span class="mono">([A-Za-z0-9]{64})<\/span>/.exec(r.body)![1]!;
        assert.match(r.body, /<textarea id="secret"[^>]*>[A-Za-z0-9]{64}<\/textarea>/);
        const keys = (await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json.keys;
        assert.deepEqual(
          keys.find((k: { apiKey: string }) => k.apiKey === apiKey),
          {
            apiKey,
            ipWhitelist: ['127.0.0.1'],
            permissions: ['PAYOUT'],
            status: 'ACTIVE',
            createdAt: keys[1].createdAt,
          },
        );

        assert.equal((await b.post(`${page}/keys/revoke`, { apiKey })).status, 403);
        const revoked = await act(page, `${page}/keys/revoke`, { apiKey });
        assert.equal(revoked.location, page);
        assert.match(revoked.flash?.ok ?? '', /revoked/);
        const replay = await act(page, `${page}/keys/revoke`, { apiKey });
        assert.match(replay.flash?.error ?? '', /Not done/);
        const after = (await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json.keys;
        assert.equal(after.find((k: { apiKey: string }) => k.apiKey === apiKey).status, 'REVOKED');
        assert.equal(after.filter((k: { status: string }) => k.status === 'ACTIVE').length, 1);
      });

      test('webhook URL and IP whitelist; TSP settings; a bad IP changes nothing', async () => {
        const page = `/admin/merchants/${merchantId}`;
        const saved = await act(page, `${page}/settings`, {
          webhookUrl: 'https://shop.example/new-hook',
          ipWhitelist: '192.0.2.1, 192.0.2.2',
        });
        assert.match(saved.flash?.ok ?? '', /saved/);
        let m = (await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json;
        assert.equal(m.webhookUrl, 'https://shop.example/new-hook');
        assert.deepEqual(m.keys.find((k: { status: string }) => k.status === 'ACTIVE').ipWhitelist, [
          '192.0.2.1',
          '192.0.2.2',
        ]);
        const bad = await act(page, `${page}/settings`, { webhookUrl: '', ipWhitelist: '999.1.1.1' });
        assert.match(bad.flash?.error ?? '', /invalid IP/);
        assert.equal((await merchantRow(merchantId)).webhook_url, 'https://shop.example/new-hook');
        assert.equal((await b.post(`${page}/settings`, { webhookUrl: '' })).status, 403);
        assert.equal((await merchantRow(merchantId)).webhook_url, 'https://shop.example/new-hook');

        const tsp = await act(page, `${page}/tsp`, {
          isTsp: 'on',
          allowScopes: 'REFUND',
          allowFeeShare: 'on',
        } as Record<string, string>);
        assert.match(tsp.flash?.ok ?? '', /TSP/);
        m = (await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json;
        assert.deepEqual(m.tsp, { allowScopes: ['REFUND'], allowFeeShare: true });
        const badScope = await act(page, `${page}/tsp`, { isTsp: 'on', allowScopes: 'EVERYTHING' });
        assert.match(badScope.flash?.error ?? '', /Not done/);
        assert.deepEqual((await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json.tsp, m.tsp);
        await act(page, `${page}/tsp`, {});
        assert.equal((await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json.tsp, null);
      });

      test('feature flags: enable, disable, reset to the mode default', async () => {
        const page = `/admin/merchants/${merchantId}`;
        // channelPartner is off by default in sandbox.
        const on = await act(page, `${page}/features`, { flag: 'channelPartner', value: 'on' });
        assert.match(on.flash?.ok ?? '', /saved/);
        assert.deepEqual((await merchantRow(merchantId)).features, { channelPartner: true });
        const shown = await b.get(page);
        assert.match(
          shown.body,
          /id="flag-channelPartner"><span><span class="mono">channelPartner<\/span><br><span class="ok">on/,
        );
        assert.match(shown.body, /id="flag-channelPartner">[^]*?set by the operator[^]*?Reset to default/);
        await act(page, `${page}/features`, { flag: 'payout', value: 'off' });
        assert.deepEqual((await merchantRow(merchantId)).features, { channelPartner: true, payout: false });
        await act(page, `${page}/features`, { flag: 'channelPartner', value: 'default' });
        assert.deepEqual((await merchantRow(merchantId)).features, { payout: false });
        const unknown = await act(page, `${page}/features`, { flag: 'teleport', value: 'on' });
        assert.equal(unknown.flash?.error, 'Unknown feature flag.');
        assert.equal((await b.post(`${page}/features`, { flag: 'payout', value: 'on' })).status, 403);
        assert.deepEqual((await merchantRow(merchantId)).features, { payout: false });
      });

      test('payout fee per asset: set, refused when not a decimal, removed', async () => {
        const page = `/admin/merchants/${merchantId}`;
        await act(page, `${page}/payout-fee`, { asset: 'usdt', fee: '0.50' });
        assert.deepEqual((await merchantRow(merchantId)).payout_fee, { USDT: '0.50' });
        assert.match((await b.get(page)).body, /0\.50 USDT/);
        const bad = await act(page, `${page}/payout-fee`, { asset: 'BTC', fee: '1e-3' });
        assert.match(bad.flash?.error ?? '', /Not done/);
        assert.deepEqual((await merchantRow(merchantId)).payout_fee, { USDT: '0.50' });
        await act(page, `${page}/payout-fee`, { asset: 'USDT', remove: '1' });
        assert.deepEqual((await merchantRow(merchantId)).payout_fee, {});
      });

      test('suspend and reactivate: each once; a replay or a missing token changes nothing', async () => {
        const page = `/admin/merchants/${merchantId}`;
        assert.equal((await b.post(`${page}/suspend`, {})).status, 403);
        assert.equal((await merchantRow(merchantId)).status, 'ACTIVE');
        const s = await act(page, `${page}/suspend`);
        assert.match(s.flash?.ok ?? '', /suspended/);
        assert.equal((await merchantRow(merchantId)).status, 'SUSPENDED');
        assert.match((await b.get(page)).body, /Reactivate/);
        const form = (await b.get(page)).body;
        const replay = await b.post(`${page}/suspend`, { csrf: b.csrfIn(form), formKey: b.formKeyIn(form)! });
        assert.equal(replay.status, 303);
        assert.match(flashOf(b)?.error ?? '', /already suspended/);
        assert.equal((await merchantRow(merchantId)).status, 'SUSPENDED');
        const r = await act(page, `${page}/reactivate`);
        assert.match(r.flash?.ok ?? '', /reactivated/);
        assert.equal((await merchantRow(merchantId)).status, 'ACTIVE');
        const again = await act(page, `${page}/reactivate`);
        assert.match(again.flash?.error ?? '', /not suspended/);
        assert.equal((await b.get('/admin/merchants/123456789')).status, 404);
      });
    });

    describe('partner pages', () => {
      let code: string;
      const keys = rsaPair();

      test('onboard with a public key; a bad key or a missing token onboards nothing', async () => {
        const form = {
          name: 'Console Wallet',
          email: 'ops@console-wallet.example',
          publicKeyPem: keys.publicKey,
          ipWhitelist: '127.0.0.1',
          redirectDomains: 'wallet.example\nm.wallet.example',
          webhookUrl: 'https://wallet.example/hook',
        };
        const count = async () => (await t.admin('GET', '/admin/v1/partners')).json.length;
        const partners = await count();
        assert.equal((await b.post('/admin/partners', form)).status, 403);
        assert.equal(await count(), partners);
        const bad = await act('/admin/partners', '/admin/partners', { ...form, publicKeyPem: 'not a key' });
        assert.match(bad.flash?.error ?? '', /Not onboarded/);
        assert.equal(await count(), partners);

        const r = await act('/admin/partners', '/admin/partners', form);
        assert.equal(r.status, 303);
        code = r.location!.split('/').pop()!;
        assert.equal(code, 'console_wallet_test');
        assert.match(r.flash?.ok ?? '', /onboarded as console_wallet_test/);
        const p = (await t.admin('GET', `/admin/v1/partners/${code}`)).json;
        assert.deepEqual(p.redirectDomains, ['wallet.example', 'm.wallet.example']);
        assert.equal(p.webhookUrl, 'https://wallet.example/hook');
        assert.equal(p.keys.length, 1);
        const page = await b.get(`/admin/partners/${code}`);
        assert.ok(page.body.includes(p.keys[0].fingerprint));
        assert.ok((await b.get('/admin/partners')).body.includes(`href="/admin/partners/${code}"`));
        assert.equal((await t.app.services.mailer.list('ops@console-wallet.example')).length, 1);
      });

      test('IPs, redirect domains, webhook URL and fees; a bad value changes nothing', async () => {
        const page = `/admin/partners/${code}`;
        const saved = await act(page, `${page}/settings`, {
          ipWhitelist: '127.0.0.1\n198.51.100.0/24',
          redirectDomains: 'pay.wallet.example',
          webhookUrl: '',
        });
        assert.match(saved.flash?.ok ?? '', /saved/);
        let p = (await t.admin('GET', `/admin/v1/partners/${code}`)).json;
        assert.deepEqual(p.ipWhitelist, ['127.0.0.1', '198.51.100.0/24']);
        assert.deepEqual(p.redirectDomains, ['pay.wallet.example']);
        assert.equal(p.webhookUrl, null);
        const noIp = await act(page, `${page}/settings`, { ipWhitelist: '', redirectDomains: '' });
        assert.match(noIp.flash?.error ?? '', /at least one IP/);
        assert.deepEqual((await t.admin('GET', `/admin/v1/partners/${code}`)).json.ipWhitelist, p.ipWhitelist);

        const fees = await act(page, `${page}/fees`, { feePct: '0.015', minFeeUsd: '1.5', spread: '0.005' });
        assert.match(fees.flash?.ok ?? '', /Fees saved/);
        p = (await t.admin('GET', `/admin/v1/partners/${code}`)).json;
        assert.deepEqual([p.feePct, p.minFeeUsd, p.spread], ['0.015', '1.5', '0.005']);
        assert.match((await b.get(page)).body, /1\.5 % of the fiat amount/);
        const bad = await act(page, `${page}/fees`, { feePct: '-1', minFeeUsd: '1', spread: '0' });
        assert.match(bad.flash?.error ?? '', /Not done/);
        assert.equal((await t.admin('GET', `/admin/v1/partners/${code}`)).json.feePct, '0.015');
        assert.equal((await b.post(`${page}/fees`, { feePct: '0.1', minFeeUsd: '1', spread: '0' })).status, 403);
        assert.equal((await t.admin('GET', `/admin/v1/partners/${code}`)).json.feePct, '0.015');
      });

      test('suspend, reactivate, password link: each refused when it does not apply or without the token', async () => {
        const page = `/admin/partners/${code}`;
        const status = async () => (await t.admin('GET', `/admin/v1/partners/${code}`)).json.status;
        assert.equal((await b.post(`${page}/suspend`, {})).status, 403);
        assert.equal(await status(), 'ACTIVE');
        assert.match((await act(page, `${page}/suspend`)).flash?.ok ?? '', /suspended/);
        assert.equal(await status(), 'DISABLED');
        assert.match((await act(page, `/admin/partners/${code}/suspend`)).flash?.error ?? '', /already suspended/);
        assert.equal(await status(), 'DISABLED');
        assert.match((await act(page, `${page}/reactivate`)).flash?.ok ?? '', /reactivated/);
        assert.equal(await status(), 'ACTIVE');
        assert.match((await act(page, `${page}/reactivate`)).flash?.error ?? '', /already active/);

        assert.equal((await b.post(`${page}/password-link`, {})).status, 403);
        assert.equal((await t.app.services.mailer.list('ops@console-wallet.example')).length, 1);
        assert.match((await act(page, `${page}/password-link`)).flash?.ok ?? '', /mailed/);
        assert.equal((await t.app.services.mailer.list('ops@console-wallet.example')).length, 2);
        assert.equal((await b.get('/admin/partners/no_such_partner')).status, 404);
      });
    });

    describe('broker pages', () => {
      let key: string;

      test('create with a partner link: the secret on the answer page only', async () => {
        const partner = await onboardPartner(t, { name: 'Broker Partner' });
        const brokers = async () => (await t.admin('GET', '/admin/v1/brokers')).json;
        const count = (await brokers()).length;
        assert.equal((await b.post('/admin/brokers', { name: 'Forged Broker' })).status, 403);
        assert.equal((await brokers()).length, count);
        const list = await b.get('/admin/brokers');
        assert.ok(list.body.includes(`<option value="${partner.merchantCode}"`), 'partners offered for the link');
        const r = await act('/admin/brokers', '/admin/brokers', {
          name: 'Console Broker',
          partialSharing: 'on',
          ipWhitelist: '127.0.0.1',
          partner: partner.merchantCode,
        });
        assert.equal(r.status, 201);
        assert.match(r.body, /Shown once/);
        const secret = /<textarea id="secret"[^>]*>([A-Za-z0-9]+)<\/textarea>/.exec(r.body)![1]!;
        const made = (await brokers()).find((x: { name: string }) => x.name === 'Console Broker');
        key = made.bizEntityKey;
        assert.equal((await t.app.services.kyc.getBroker(key))!.secret, secret);
        assert.equal(made.sharingMode, 'PARTIAL');
        assert.equal(made.connectPartnerCode, partner.merchantCode);
        assert.deepEqual(made.ipWhitelist, ['127.0.0.1']);
        const page = await b.get(`/admin/brokers/${key}`);
        assert.equal(page.status, 200);
        assert.ok(!page.body.includes(secret));
        const bad = await act('/admin/brokers', '/admin/brokers', { name: 'Bad IP', ipWhitelist: 'nope' });
        assert.match(bad.flash?.error ?? '', /Not created/);
        assert.equal((await brokers()).length, count + 1);
      });

      test('settings: partial sharing, IPs, partner link; a bad IP or a missing token changes nothing', async () => {
        const page = `/admin/brokers/${key}`;
        const saved = await act(page, `${page}/settings`, { ipWhitelist: '10.1.2.3', partner: '' });
        assert.match(saved.flash?.ok ?? '', /saved/);
        const b1 = (await t.admin('GET', `/admin/v1/brokers/${key}`)).json;
        assert.equal(b1.sharingMode, 'STANDARD');
        assert.deepEqual(b1.ipWhitelist, ['10.1.2.3']);
        assert.equal(b1.connectPartnerCode, null);
        const bad = await act(page, `${page}/settings`, { ipWhitelist: 'x.y', partialSharing: 'on' });
        assert.match(bad.flash?.error ?? '', /Not saved/);
        assert.deepEqual((await t.admin('GET', `/admin/v1/brokers/${key}`)).json, b1);
        assert.equal((await b.post(`${page}/settings`, { partialSharing: 'on' })).status, 403);
        assert.deepEqual((await t.admin('GET', `/admin/v1/brokers/${key}`)).json, b1);
      });

      test('rotate secret: the new one shown once, the old one replaced; a missing token rotates nothing', async () => {
        const page = `/admin/brokers/${key}`;
        const old = (await t.app.services.kyc.getBroker(key))!.secret;
        assert.equal((await b.post(`${page}/rotate-secret`, {})).status, 403);
        assert.equal((await t.app.services.kyc.getBroker(key))!.secret, old);
        const r = await act(page, `${page}/rotate-secret`);
        assert.equal(r.status, 200);
        const secret = /<textarea id="secret"[^>]*>([A-Za-z0-9]+)<\/textarea>/.exec(r.body)![1]!;
        assert.notEqual(secret, old);
        assert.equal((await t.app.services.kyc.getBroker(key))!.secret, secret);
        const unknown = await act(page, '/admin/brokers/NOSUCHBROKER/rotate-secret');
        assert.match(unknown.flash?.error ?? '', /Not rotated/);
      });
    });

    test('every console action is in the audit log under the operator', async () => {
      const log = await b.get('/admin/audit-log');
      assert.match(log.body, /POST \/admin\/v1\/merchants\/\d+\/suspend/);
      assert.match(log.body, /POST \/admin\/v1\/partners\/console_wallet_test\/reactivate/);
      assert.match(log.body, /POST \/admin\/v1\/brokers\/[A-Z0-9]+\/secret/);
    });
  });
}
