import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import { linkifyMailText, registerDevMailbox } from '../src/platform/mail.ts';
import { startTestApp, type TestApp } from './helpers.ts';
import { browserSkip, launchBrowser, PHONE, phoneFit } from './support/browser.ts';

describe('mail: recorded in the transaction, delivered to the dev mailbox by the worker', () => {
  let t: TestApp;
  before(async () => (t = await startTestApp()));
  after(() => t.close());

  test('a message queued in a rolled-back transaction is never sent; a committed one reaches the dev mailbox', async () => {
    const { mailer, db } = t.app.services;
    await assert.rejects(
      db.tx(async (q) => {
        await mailer.send(q, { to: 'Ghost@Example.com', subject: 'never', text: 'rolled back' });
        throw new Error('rollback');
      }),
    );
    await db.tx((q) => mailer.send(q, { to: 'User@Example.com', subject: 'Your code', text: 'Code: 123456' }));
    assert.equal((await db.query(`SELECT status FROM mail_messages`)).rows[0].status, 'QUEUED');
    assert.ok(
      !JSON.stringify((await db.query(`SELECT body_sealed FROM mail_messages`)).rows).includes('123456'),
      'body encrypted at rest',
    );
    await t.app.outboxWorker.runOnce();
    const list = await (
      await fetch(`${t.baseUrl}/dev/mailbox.json?to=user@example.com`, {
        headers: { authorization: `Bearer ${t.adminToken}` },
      })
    ).json();
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 'DEV_MAILBOX');
    assert.equal(list[0].text, 'Code: 123456');
    const page = await fetch(`${t.baseUrl}/dev/mailbox?token=${t.adminToken}`);
    assert.match(await page.text(), /Your code/);
    assert.equal((await fetch(`${t.baseUrl}/dev/mailbox`)).status, 401);
    assert.deepEqual(await mailer.list('ghost@example.com'), []);
  });
  test('links in mails are clickable http(s) links, escaped; the text around them stays text', () => {
    const out = linkifyMailText(
      'Set it at https://pay.example/set?token=ab&x=<b>. Or javascript:alert(1) <script>x</script> (http://a.example/b)',
    ).value;
    assert.equal(
      out,
      'Set it at <a href="https://pay.example/set?token=ab&amp;x=" rel="noreferrer">https://pay.example/set?token=ab&amp;x=</a>' +
        '&lt;b&gt;. Or javascript:alert(1) &lt;script&gt;x&lt;/script&gt; (<a href="http://a.example/b" ' +
        'rel="noreferrer">http://a.example/b</a>)',
    );
  });

  test('a browser opens the mailbox with a console admin session, without a token; others go to the console login', async () => {
    // The console's session check is injected (the app passes the console's own); here it reads a fixed cookie.
    const roles: Record<string, 'admin' | 'reviewer'> = { 'admin-session': 'admin', 'reviewer-session': 'reviewer' };
    const app = Fastify();
    await app.register(cookie);
    registerDevMailbox(app, {
      mailer: t.app.services.mailer,
      adminToken: t.adminToken,
      mode: 'sandbox',
      operatorSession: async (req: FastifyRequest) => {
        const role = roles[req.cookies.console ?? ''];
        return role ? { role } : null;
      },
    });
    await app.ready();
    const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });
    const browser = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

    const admin = await get('/dev/mailbox', { ...browser, cookie: 'console=admin-session' });
    assert.equal(admin.statusCode, 200);
    assert.match(admin.body, /Dev mailbox/);
    assert.match(admin.body, /Your code/);
    assert.equal((await get('/dev/mailbox.json', { cookie: 'console=admin-session' })).statusCode, 200);

    const anonymous = await get('/dev/mailbox?to=user%40example.com', browser);
    assert.equal(anonymous.statusCode, 303);
    assert.equal(anonymous.headers.location, '/admin/login?next=%2Fdev%2Fmailbox%3Fto%3Duser%2540example.com');
    assert.equal((await get('/dev/mailbox')).statusCode, 401, 'a JSON client is not redirected');
    assert.equal((await get('/dev/mailbox.json', browser)).statusCode, 401);
    assert.equal((await get('/dev/mailbox', { ...browser, cookie: 'console=forged' })).statusCode, 303);

    const reviewer = await get('/dev/mailbox', { ...browser, cookie: 'console=reviewer-session' });
    assert.equal(reviewer.statusCode, 403, 'a reviewer sees only the KYC queue');
    assert.match(reviewer.body, /for administrators/);
    assert.doesNotMatch(reviewer.body, /Your code/);
    assert.equal((await get('/dev/mailbox.json', { cookie: 'console=reviewer-session' })).statusCode, 403);

    // The admin token still opens it, as a header or a link's ?token=; a wrong one does not.
    assert.equal((await get('/dev/mailbox.json', { authorization: `Bearer ${t.adminToken}` })).statusCode, 200);
    assert.equal((await get(`/dev/mailbox?token=${t.adminToken}`, browser)).statusCode, 200);
    assert.equal((await get('/dev/mailbox?token=wrong', browser)).statusCode, 401);
    await app.close();
  });

  test('on a phone, a mail with a long link wraps it and the link is clickable', { skip: browserSkip }, async () => {
    const { mailer, db } = t.app.services;
    const long = `${t.baseUrl}/en/dashboard/set-password?token=${'a1b2c3d4'.repeat(12)}`;
    await db.tx((q) =>
      mailer.send(q, { to: 'long@example.com', subject: 'Set your password', text: `Open ${long}.\nThanks.` }),
    );
    await t.app.outboxWorker.runOnce();
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.setViewportSize(PHONE);
      await page.goto(`${t.baseUrl}/dev/mailbox?to=long@example.com&token=${t.adminToken}`);
      assert.equal(await page.getAttribute('.mail-body a', 'href'), long);
      assert.deepEqual(await phoneFit(page), []);
      await browser.screenshot(page, 'mailbox-phone');
      await Promise.all([page.waitForURL(/set-password/), page.click('.mail-body a')]);
    } finally {
      await browser.close();
    }
  });
});
