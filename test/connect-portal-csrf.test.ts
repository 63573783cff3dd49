import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers.ts';
import { onboardPartner } from './support/connect-client.ts';

/**
 * Login CSRF on the partner portal: POST /en/partner/login and /en/partner/set-password need the token the form
 * was served with (double-submit cookie, as the merchant dashboard's login), so another site can neither log a
 * visitor into an attacker's partner account nor post a password for a link it holds.
 */
const BASE = '/en/partner';
const cookieOf = (r: Response, name: string) =>
  r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith(`${name}=`));

describe('partner portal login CSRF', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ env: { CONNECT_RATE_PER_SECOND: '100000' } });
  });
  after(async () => t.close());

  async function form(path: string, fields: Record<string, string>, cookie?: string) {
    return fetch(t.baseUrl + path, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
      body: new URLSearchParams(fields).toString(),
    });
  }
  async function served(path: string) {
    const r = await fetch(t.baseUrl + path);
    assert.equal(r.status, 200, path);
    const token = /name="_csrf" value="([a-z0-9]{32})"/.exec(await r.text())?.[1];
    const cookie = cookieOf(r, 'rampart_partner_csrf');
    assert.ok(token && cookie, `${path} serves a CSRF token and its cookie`);
    assert.equal(cookie, `rampart_partner_csrf=${token}`);
    return { token, cookie };
  }

  test('set-password and login refuse a post without the served token; with it they work', async () => {
    const p = await onboardPartner(t, { name: 'Csrf Wallet' });
    const link = (await t.app.services.mailer.list(p.email))[0]!.text.match(/set-password\?token=([0-9a-f]+)/)!;
    const linkToken = link[1]!; // the group takes part in every match
    const password = 'portal-password-42';

    const sp = await served(`${BASE}/set-password?token=${linkToken}`);
    for (const [fields, cookie] of [
      [{ token: linkToken, password }, undefined], // a cross-site form: no cookie, no token
      [{ token: linkToken, password, _csrf: sp.token }, undefined], // a token without its cookie
      [{ token: linkToken, password, _csrf: 'a'.repeat(32) }, sp.cookie], // a guessed token
    ] as const) {
      const r = await form(`${BASE}/set-password`, fields, cookie);
      assert.equal(r.status, 403);
      assert.match(await r.text(), /form has expired/);
    }
    assert.equal(await t.app.services.partners.linkValid(linkToken), true, 'a refused post leaves the link unused');
    const ok = await form(`${BASE}/set-password`, { token: linkToken, password, _csrf: sp.token }, sp.cookie);
    assert.equal(ok.status, 302);
    assert.match(ok.headers.get('location') ?? '', /\/en\/partner\/login\?done=1$/);

    const lp = await served(`${BASE}/login`);
    for (const [fields, cookie] of [
      [{ email: p.email, password }, undefined],
      [{ email: p.email, password, _csrf: lp.token }, undefined],
      [{ email: p.email, password, _csrf: 'b'.repeat(32) }, lp.cookie],
    ] as const) {
      const r = await form(`${BASE}/login`, fields, cookie);
      assert.equal(r.status, 403);
      assert.equal(cookieOf(r, 'rampart_partner'), undefined, 'no session without the token');
    }
    const login = await form(`${BASE}/login`, { email: p.email, password, _csrf: lp.token }, lp.cookie);
    assert.equal(login.status, 302);
    assert.ok(cookieOf(login, 'rampart_partner'), 'session cookie set');
  });
});
