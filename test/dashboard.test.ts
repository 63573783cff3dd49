import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAuditOk, createMerchant, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { createAuthorization, createTsp, type Tsp } from './tsp-support.ts';
import { startReceiver, waitFor } from './support/webhook-receiver.ts';
import { createPayer, v3Order } from './helpers.ts';

/** The merchant dashboard over plain HTTP: set-password link, login, cookie flags, CSRF, rate limit, ownership. */

/** A minimal browser: keeps cookies, follows nothing, posts urlencoded forms. */
function agent(baseUrl: string) {
  const jar = new Map<string, string>();
  const setCookies: string[] = [];
  async function req(method: string, path: string, form?: Record<string, string | string[]>) {
    let body: string | undefined;
    if (form) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
      body = p.toString();
    }
    const res = await fetch(baseUrl + path, {
      method,
      redirect: 'manual',
      body,
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
    });
    for (const c of res.headers.getSetCookie()) {
      setCookies.push(c);
      const [kv] = c.split(';');
      assert.ok(kv !== undefined);
      const i = kv.indexOf('=');
      const v = kv.slice(i + 1);
      if (v === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(kv.slice(0, i));
      else jar.set(kv.slice(0, i), v);
    }
    return { status: res.status, text: await res.text(), location: res.headers.get('location'), headers: res.headers };
  }
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  return {
    jar,
    setCookies,
    req,
    csrfOf,
    async login(email: string, password: string, next?: string) {
      const page = await req('GET', '/en/dashboard/login');
      return req('POST', '/en/dashboard/login', {
        csrf: csrfOf(page.text),
        email,
        password,
        ...(next ? { next } : {}),
      });
    },
  };
}

async function setPassword(t: TestApp, email: string, password: string) {
  const mail = (await t.app.services.mailer.list(email))[0];
  assert.ok(mail);
  const link = /(\/en\/dashboard\/set-password\?token=[a-z0-9]+)/.exec(mail.text)![1]!;
  const a = agent(t.baseUrl);
  const page = await a.req('GET', link);
  assert.equal(page.status, 200);
  const token = new URL(t.baseUrl + link).searchParams.get('token')!;
  const r = await a.req('POST', '/en/dashboard/set-password', { csrf: a.csrfOf(page.text), token, password });
  assert.equal(r.status, 303, r.text);
  return { link, token };
}

for (const kind of DB_KINDS) {
  describe(`merchant dashboard over HTTP (${kind})`, () => {
    let t: TestApp;
    let tsp: Tsp;
    let m: Awaited<ReturnType<typeof createMerchant>>;
    const email = `owner-${kind}@gelato.example`;
    const password = 'correct horse battery';
    /** The owner's browser, logged in by the first test (log-ins are rate-limited per address). */
    let owner: ReturnType<typeof agent>;

    before(async () => {
      t = await startTestApp({ kind, workers: true });
      m = await createMerchant(t, { name: 'Gelato Corner', email });
      tsp = await createTsp(t, { name: 'Acme Integrations' });
    });
    after(async () => {
      await tsp?.receiver.close();
      await assertAuditOk(t);
      await t.close();
    });

    test(
      'the admin create emails a single-use set-password link; the password is stored as scrypt; login sets an ' +
        'HttpOnly SameSite cookie',
      async () => {
        const dup = await t.admin('POST', '/admin/v1/merchants', { name: 'Dup', email });
        assert.equal(dup.status, 409);
        const a = agent(t.baseUrl);
        assert.equal((await a.login(email, password)).status, 401, 'no password before the link is used');
        const { link, token } = await setPassword(t, email, password);
        const again = agent(t.baseUrl);
        assert.equal((await again.req('GET', link)).status, 410, 'link is single-use');
        const page = await again.req('GET', '/en/dashboard/login');
        assert.equal(
          (
            await again.req('POST', '/en/dashboard/set-password', {
              csrf: again.csrfOf(page.text),
              token,
              password: 'another password 1',
            })
          ).status,
          400,
        );
        const hash = (await t.db.query(`SELECT password_hash FROM merchant_users WHERE email = $1`, [email])).rows[0]
          .password_hash;
        assert.match(hash, /^scrypt\$/);

        assert.equal((await a.login(email, 'wrong password!')).status, 401);
        const ok = await a.login(email, password);
        assert.equal(ok.status, 303);
        assert.equal(ok.location, '/en/dashboard/orders');
        owner = a;
        const cookie = a.setCookies.find((c) => c.startsWith('rampart_dash='))!;
        assert.match(cookie, /HttpOnly/);
        assert.match(cookie, /SameSite=Lax/);
        const orders = await a.req('GET', '/en/dashboard/orders');
        assert.equal(orders.status, 200);
        assert.match(orders.text, /Gelato Corner/);
        // Not logged in → login page.
        const anon = await agent(t.baseUrl).req('GET', '/en/dashboard/balances');
        assert.equal(anon.status, 302);
        assert.match(anon.location!, /^\/en\/dashboard\/login\?next=/);
      },
    );

    test('every form needs the session CSRF token: without it nothing happens', async () => {
      const a = agent(t.baseUrl);
      await a.login(email, password);
      const keysBefore = (await t.admin('GET', `/admin/v1/merchants/${m.merchantId}`)).json.keys.length;
      assert.equal((await a.req('POST', '/en/dashboard/developers/keys', {})).status, 403);
      assert.equal((await a.req('POST', '/en/dashboard/developers/keys', { csrf: 'x'.repeat(32) })).status, 403);
      assert.equal((await t.admin('GET', `/admin/v1/merchants/${m.merchantId}`)).json.keys.length, keysBefore);
      const dev = await a.req('GET', '/en/dashboard/developers');
      const created = await a.req('POST', '/en/dashboard/developers/keys', { csrf: a.csrfOf(dev.text) });
      assert.equal(created.status, 200);
      assert.match(created.text, /id="new-api-secret">[a-z0-9]{64}</);
      assert.equal((await t.admin('GET', `/admin/v1/merchants/${m.merchantId}`)).json.keys.length, keysBefore + 1);
      // The secret is shown once: the page afterwards does not contain it.
      const secret = /id="new-api-secret">([a-z0-9]{64})</.exec(created.text)![1]!;
      assert.ok(!(await a.req('GET', '/en/dashboard/developers')).text.includes(secret));
      // The login form itself: no double-submit cookie match, no login.
      const b = agent(t.baseUrl);
      assert.equal((await b.req('POST', '/en/dashboard/login', { csrf: 'a'.repeat(32), email, password })).status, 403);
    });

    test('login is rate-limited: the 11th attempt within a minute gets 429', async () => {
      const fresh = await startTestApp({ kind });
      try {
        const a = agent(fresh.baseUrl);
        const page = await a.req('GET', '/en/dashboard/login');
        const statuses: number[] = [];
        for (let i = 0; i < 11; i++)
          statuses.push(
            (
              await a.req('POST', '/en/dashboard/login', {
                csrf: a.csrfOf(page.text),
                email: 'x@example.com',
                password: 'nope nope nope',
              })
            ).status,
          );
        assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
        assert.equal(statuses[10], 429);
      } finally {
        await fresh.close();
      }
    });

    test('review page: only the owning merchant sees it; scopes in plain words; agree via the form authorizes', async () => {
      const a = agent(t.baseUrl);
      const auth = await createAuthorization(tsp, m.merchantId, ['CHECKOUT', 'BALANCE'], ['192.168.1.1']);
      const path = new URL(auth.redirectUrl).pathname + new URL(auth.redirectUrl).search;
      const anon = await a.req('GET', path);
      assert.equal(anon.status, 302);
      const login = await a.login(email, password, path);
      assert.equal(login.location, path);
      const page = await a.req('GET', path);
      assert.equal(page.status, 200);
      assert.match(page.text, /Acme Integrations/);
      assert.match(page.text, /Create, query and close orders/);
      assert.match(page.text, /See your wallet balances/);
      assert.match(page.text, /192\.168\.1\.1/);

      // Another merchant's user gets "not found" and cannot decide.
      const otherEmail = `other-${kind}@example.com`;
      await createMerchant(t, { name: 'Someone Else', email: otherEmail });
      await setPassword(t, otherEmail, password);
      const o = agent(t.baseUrl);
      await o.login(otherEmail, password);
      const foreign = await o.req('GET', path);
      assert.equal(foreign.status, 404);
      const forged = await o.req('POST', '/en/dashboard/review-authorization', {
        csrf: o.csrfOf(foreign.text),
        authId: auth.authorizationId,
        decision: 'AGREE',
      });
      assert.equal(forged.status, 404);
      assert.equal((await t.app.services.tsp.get(auth.authorizationId))!.status, 'PENDING');

      const agreed = await a.req('POST', '/en/dashboard/review-authorization', {
        csrf: a.csrfOf(page.text),
        authId: auth.authorizationId,
        decision: 'AGREE',
      });
      assert.match(agreed.text, /id="review-status">AUTHORIZED</);
      await tsp.webhook(auth.authorizationId, 'SUBMIT_AUTH_AGREE');
    });

    test(
      'Technical Vendor: Dismiss rejects a pending request; Block this provider dismisses its requests and ' +
        'refuses its creates as 406210 (like an unknown merchant); Unblock; CSRF on each form',
      async () => {
        const a = agent(t.baseUrl);
        await a.login(email, password);
        const spam = await createTsp(t, { name: 'Walker Scrapes' });
        try {
          const one = await createAuthorization(spam, m.merchantId, ['CHECKOUT']);
          let page = await a.req('GET', '/en/dashboard/technical-vendor');
          assert.ok(page.text.includes(`/technical-vendor/${one.authorizationId}/dismiss`));
          assert.ok(page.text.includes(`/technical-vendor/${one.authorizationId}/block`));
          // Without the session's CSRF token nothing happens.
          assert.equal(
            (await a.req('POST', `/en/dashboard/technical-vendor/${one.authorizationId}/dismiss`, {})).status,
            403,
          );
          assert.equal(
            (
              await a.req('POST', `/en/dashboard/technical-vendor/${one.authorizationId}/block`, {
                csrf: 'x'.repeat(32),
              })
            ).status,
            403,
          );
          assert.equal((await t.app.services.tsp.get(one.authorizationId))!.status, 'PENDING');
          // Another merchant cannot dismiss or block it.
          const otherEmail = `vendor-other-${kind}@example.com`;
          await createMerchant(t, { name: 'Bystander', email: otherEmail });
          await setPassword(t, otherEmail, password);
          const o = agent(t.baseUrl);
          await o.login(otherEmail, password);
          const oPage = await o.req('GET', '/en/dashboard/technical-vendor');
          assert.match(
            (
              await o.req('POST', `/en/dashboard/technical-vendor/${one.authorizationId}/dismiss`, {
                csrf: o.csrfOf(oPage.text),
              })
            ).text,
            /no longer pending/,
          );
          assert.equal(
            (
              await o.req('POST', `/en/dashboard/technical-vendor/${one.authorizationId}/block`, {
                csrf: o.csrfOf(oPage.text),
              })
            ).status,
            404,
          );
          assert.equal((await t.app.services.tsp.get(one.authorizationId))!.status, 'PENDING');

          page = await a.req('POST', `/en/dashboard/technical-vendor/${one.authorizationId}/dismiss`, {
            csrf: a.csrfOf(page.text),
          });
          assert.match(page.text, /Request from Walker Scrapes dismissed/);
          assert.equal((await t.app.services.tsp.get(one.authorizationId))!.status, 'REJECTED');
          await spam.webhook(one.authorizationId, 'SUBMIT_AUTH_REJECT');

          // Block from the review page of a new request.
          const two = await createAuthorization(spam, m.merchantId, ['BALANCE']);
          const review = await a.req('GET', `/en/dashboard/review-authorization?authId=${two.authorizationId}`);
          assert.ok(review.text.includes(`/technical-vendor/${two.authorizationId}/block`));
          page = await a.req('POST', `/en/dashboard/technical-vendor/${two.authorizationId}/block`, {
            csrf: a.csrfOf(review.text),
          });
          assert.match(page.text, /Walker Scrapes is blocked/);
          assert.match(page.text, /id="blocked"/);
          assert.equal((await t.app.services.tsp.get(two.authorizationId))!.status, 'REJECTED');
          await spam.webhook(two.authorizationId, 'SUBMIT_AUTH_REJECT');

          // A blocked TSP's create answers exactly as for a merchant id that does not exist; nothing is stored.
          const rows = async () =>
            (
              await t.db.query(`SELECT count(*)::int AS n FROM tsp_authorizations WHERE tsp_merchant_id = $1`, [
                spam.merchantId,
              ])
            ).rows[0].n;
          const n = await rows();
          const blocked = await spam.client.post('/service/provider/create', {
            merchantId: m.merchantId,
            scopes: ['CHECKOUT'],
            ipWhitelist: [],
          });
          const unknown = await spam.client.post('/service/provider/create', {
            merchantId: '9999999999999',
            scopes: ['CHECKOUT'],
            ipWhitelist: [],
          });
          assert.equal(blocked.text, unknown.text);
          assert.deepEqual(blocked.json, { status: 'FAIL', code: '406210', errorMessage: 'Invalid merchant id' });
          assert.equal(await rows(), n);
          // Other providers are not affected.
          const fine = await createAuthorization(tsp, m.merchantId, ['CHECKOUT']);
          assert.equal(fine.status, 'PENDING');

          // Unblock: needs the CSRF token, then creates work again.
          assert.equal(
            (await a.req('POST', `/en/dashboard/technical-vendor/blocked/${spam.merchantId}/unblock`, {})).status,
            403,
          );
          page = await a.req('POST', `/en/dashboard/technical-vendor/blocked/${spam.merchantId}/unblock`, {
            csrf: a.csrfOf(page.text),
          });
          assert.match(page.text, /Provider unblocked/);
          assert.doesNotMatch(page.text, /id="blocked"/);
          assert.equal((await createAuthorization(spam, m.merchantId, ['CHECKOUT'])).status, 'PENDING');
        } finally {
          await spam.receiver.close();
        }
      },
    );

    test('orders filter, balances, report CSV, webhook URL + signed test event + redeliver from the delivery log', async () => {
      const a = agent(t.baseUrl);
      await a.login(email, password);
      const payer = await createPayer(t, `dash-payer-${kind}@example.com`, { USDT: '50' });
      const paid = await m.client.post('/v3/order', v3Order({ orderAmount: '10' }));
      await t.admin('POST', `/sandbox/v1/orders/${paid.json.data.prepayId}/pay`, { payerEmail: payer.email });
      const open = await m.client.post('/v3/order', v3Order({ orderAmount: '3' }));
      const onlyPaid = await a.req('GET', '/en/dashboard/orders?status=PAID');
      assert.ok(onlyPaid.text.includes(paid.json.data.prepayId) && !onlyPaid.text.includes(open.json.data.prepayId));
      const day = new Date(t.clock.now()).toISOString().slice(0, 10);
      assert.ok(
        (await a.req('GET', `/en/dashboard/orders?from=${day}&to=${day}`)).text.includes(open.json.data.prepayId),
      );
      assert.ok(
        !(await a.req('GET', '/en/dashboard/orders?from=2000-01-01&to=2000-01-02')).text.includes(
          open.json.data.prepayId,
        ),
      );
      assert.match(
        (await a.req('GET', '/en/dashboard/balances')).text,
        /<td data-label="Asset">USDT<\/td><td data-label="Available">9\.\d+<\/td>/,
      );
      const csv = await a.req('GET', `/en/dashboard/reports.csv?date=${day}`);
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get('content-type')!, /text\/csv/);
      assert.ok(csv.text.startsWith('time,asset,type'), csv.text.slice(0, 80));
      assert.ok(csv.text.includes(paid.json.data.prepayId));

      const rx = await startReceiver();
      try {
        let dev = await a.req('GET', '/en/dashboard/developers');
        dev = await a.req('POST', '/en/dashboard/developers/webhook', {
          csrf: a.csrfOf(dev.text),
          webhookUrl: rx.url('/merchant'),
        });
        assert.match(dev.text, /Webhook URL saved/);
        // A refused URL stays in the field with the error, and the saved one is unchanged.
        const refused = await a.req('POST', '/en/dashboard/developers/webhook', {
          csrf: a.csrfOf(dev.text),
          webhookUrl: 'ftp://files.example/hook',
        });
        assert.match(refused.text, /Enter an http\(s\) URL/);
        assert.match(refused.text, /id="webhook-url"[^>]*value="ftp:\/\/files\.example\/hook"/);
        assert.equal((await t.app.services.accounts.getMerchant(m.merchantId))?.webhookUrl, rx.url('/merchant'));
        dev = await a.req('POST', '/en/dashboard/developers/test-event', { csrf: a.csrfOf(dev.text) });
        assert.match(dev.text, /Test event queued/);
        await waitFor('test event', () => rx.received.find((r) => r.body.toString().includes('"bizType":"TEST"')));
        const d = await waitFor('delivered', async () =>
          (await t.app.services.webhooks.list({ ownerId: m.merchantId })).find(
            (x) => x.bizType === 'TEST' && x.status === 'DELIVERED',
          ),
        );
        dev = await a.req('GET', '/en/dashboard/developers');
        assert.ok(dev.text.includes(`/developers/deliveries/${d.id}/redeliver`));
        assert.match(
          dev.text,
          new RegExp(`data-delivery="${d.id}"[\\s\\S]*?<span class="tag plain">Test event</span>`),
        );
        dev = await a.req('POST', `/en/dashboard/developers/deliveries/${d.id}/redeliver`, {
          csrf: a.csrfOf(dev.text),
        });
        assert.match(dev.text, /Delivery queued again/);
        await waitFor(
          'redelivery',
          () => rx.received.filter((r) => r.body.toString().includes('"bizType":"TEST"')).length === 2,
        );
      } finally {
        await rx.close();
      }
    });

    // Last: it changes the merchant's balance, which the tests above read.
    test('the refund form sent twice (a double click, a reload that re-posts) refunds once', async () => {
      const a = owner;
      const order = await m.client.post('/v3/order', v3Order({ orderAmount: '30' }));
      const prepayId = order.json.data.prepayId;
      const payer = await createPayer(t, `refund-replay-${kind}@example.com`, { USDT: '100' });
      const paid = await t.admin('POST', `/sandbox/v1/orders/${prepayId}/pay`, { payerEmail: payer.email });
      assert.equal(paid.status, 200, JSON.stringify(paid.json));
      const page = await a.req('GET', `/en/dashboard/orders/${prepayId}`);
      const requestKey = /name="requestKey" value="([A-Za-z0-9]{24})"/.exec(page.text)?.[1];
      assert.ok(requestKey, 'the form carries its own key');
      const form = { csrf: a.csrfOf(page.text), amount: '5', reason: 'damaged', requestKey };
      const first = await a.req('POST', `/en/dashboard/orders/${prepayId}/refund`, form);
      assert.match(first.text, /Refund of 5\.00 USDT \(refund \d+\) accepted/);
      const again = await a.req('POST', `/en/dashboard/orders/${prepayId}/refund`, form);
      assert.match(again.text, /already accepted/);
      const rows = await t.db.query(`SELECT count(*)::int AS n FROM pay_refunds WHERE prepay_id = $1`, [prepayId]);
      assert.equal(rows.rows[0].n, 1);
      const stale = await a.req('POST', `/en/dashboard/orders/${prepayId}/refund`, { ...form, requestKey: 'x' });
      assert.match(stale.text, /out of date/);
      const after = await t.db.query(`SELECT count(*)::int AS n FROM pay_refunds WHERE prepay_id = $1`, [prepayId]);
      assert.equal(after.rows[0].n, 1);
    });
  });
}
