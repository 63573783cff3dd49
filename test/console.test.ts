import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAuditOk, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { consoleLogin, createOperator, kycRecordInReview, solidPng, type TestOperator } from './support/console.ts';
import { formBrowser } from './support/form-browser.ts';
import type { FastifyRequest } from 'fastify';
import { CONSOLE_COOKIE, createConsoleSessions } from '../src/admin/console/session.ts';

/**
 * The operator console's access rules over HTTP (issue #17): operator accounts with password + TOTP, admin-token
 * log-in, roles, CSRF, the KYC review queue with its documents and decisions, and the audit log that records every
 * operator action whether it came through the console or the admin API.
 */
const PNG = solidPng(64, 40, [20, 120, 200]);

for (const kind of DB_KINDS) {
  describe(`operator console (${kind})`, () => {
    let t: TestApp;
    let admin: TestOperator;
    let reviewer: TestOperator;
    /** The reviewer's browser, logged in by the KYC review test (log-ins are rate-limited per address). */
    let reviewerSession: ReturnType<typeof formBrowser>;

    before(async () => {
      t = await startTestApp({ kind });
      admin = await createOperator(t, 'admin');
      reviewer = await createOperator(t, 'reviewer');
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });

    test('operator accounts: created once by the admin API, secrets shown once, stored only sealed', async () => {
      const again = await t.admin('POST', '/admin/v1/operators', { email: admin.email.toUpperCase(), role: 'admin' });
      assert.equal(again.status, 409);
      assert.equal(again.json.error.code, 'EMAIL_TAKEN');
      const badRole = await t.admin('POST', '/admin/v1/operators', { email: 'x@ops.example', role: 'owner' });
      assert.equal(badRole.status, 400);
      const list = await t.admin('GET', '/admin/v1/operators');
      assert.deepEqual(
        list.json.operators.map((o: { email: string; role: string }) => [o.email, o.role]),
        [
          [admin.email, 'admin'],
          [reviewer.email, 'reviewer'],
        ],
      );
      assert.ok(!JSON.stringify(list.json).includes(admin.totpSecret));
      const row = (await t.db.query(`SELECT * FROM operator_users WHERE id = $1`, [admin.id])).rows[0];
      const stored = Object.values(row).map(String).join(' ');
      assert.ok(!stored.includes(admin.totpSecret), 'the TOTP secret is sealed at rest');
      assert.ok(!stored.includes(admin.password), 'the password is hashed');
    });

    test('log-in needs the password and a fresh authenticator code; a code logs in once', async () => {
      const b = formBrowser(t.baseUrl);
      const first = await b.get('/admin');
      assert.equal(first.status, 302);
      assert.equal(first.location, '/admin/login?next=%2Fadmin');

      const wrongCode = await consoleLogin(b, admin, admin.code() === '000000' ? '111111' : '000000');
      assert.equal(wrongCode.status, 401);
      assert.match(wrongCode.body, /Wrong e-mail, password or code/);
      const wrongPassword = await b.submit('/admin/login', '/admin/login', {
        email: admin.email,
        password: 'not-the-password',
        code: admin.code(),
      });
      assert.equal(wrongPassword.status, 401);
      const noCsrf = await b.post('/admin/login', { email: admin.email, password: admin.password, code: admin.code() });
      assert.equal(noCsrf.status, 403);

      const code = admin.code();
      const ok = await consoleLogin(b, admin, code);
      assert.equal(ok.status, 303);
      assert.equal(ok.location, '/admin');
      assert.ok(b.setCookies.some((c) => /^rampart_console=.*HttpOnly.*SameSite=Strict/i.test(c)));
      const home = await b.get('/admin');
      assert.equal(home.status, 200);
      assert.match(home.body, /Operator console/);
      assert.ok(home.body.includes(admin.email));

      // The sandbox mailbox opens for the console's session, without a hand-typed token.
      const mailbox = await fetch(`${t.baseUrl}/dev/mailbox`, {
        headers: { accept: 'text/html', cookie: [...b.jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      assert.equal(mailbox.status, 200);
      assert.match(await mailbox.text(), /Dev mailbox/);

      // The same code (or the one before it) cannot open a second session: it was used.
      const replay = await consoleLogin(formBrowser(t.baseUrl), admin, code);
      assert.equal(replay.status, 401);
      const older = await consoleLogin(formBrowser(t.baseUrl), admin, admin.code(-1));
      assert.equal(older.status, 401);
    });

    test('the admin token logs in as an administrator; a wrong token does not', async () => {
      const b = formBrowser(t.baseUrl);
      const bad = await b.submit('/admin/login', '/admin/login', { method: 'token', token: 'nope' });
      assert.equal(bad.status, 401);
      const good = await b.submit('/admin/login', '/admin/login', { method: 'token', token: t.adminToken });
      assert.equal(good.status, 303);
      const log = await b.get('/admin/audit-log');
      assert.equal(log.status, 200);
      assert.match(log.body, /Audit log/);
    });

    test('a reviewer sees the KYC queue only', async () => {
      const b = formBrowser(t.baseUrl);
      assert.equal((await consoleLogin(b, reviewer)).status, 303);
      const home = await b.get('/admin');
      assert.equal(home.location, '/admin/kyc');
      const queue = await b.get('/admin/kyc');
      assert.equal(queue.status, 200);
      assert.ok(!queue.body.includes('href="/admin/audit-log"'), 'the navigation offers only what the role allows');
      for (const path of ['/admin/audit-log']) assert.equal((await b.get(path)).status, 403, path);
      const mailbox = await fetch(`${t.baseUrl}/dev/mailbox`, {
        headers: { accept: 'text/html', cookie: [...b.jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      assert.equal(mailbox.status, 403, 'the mailbox is for administrators');
    });

    test('KYC review: the queue, the record with its document, the decision, the history, the audit log', async () => {
      const recordId = await kycRecordInReview(t, PNG);
      const b = formBrowser(t.baseUrl);
      assert.equal((await consoleLogin(b, reviewer, reviewer.code(1))).status, 303);
      reviewerSession = b;

      const queue = await b.get('/admin/kyc?status=REVIEW&source=buyflow');
      assert.ok(queue.body.includes(`href="/admin/kyc/${recordId}"`));
      const brokers = await b.get('/admin/kyc?status=REVIEW&source=broker');
      assert.ok(!brokers.body.includes(`href="/admin/kyc/${recordId}"`), 'the source filter applies');

      const page = await b.get(`/admin/kyc/${recordId}`);
      assert.equal(page.status, 200);
      assert.ok(page.body.includes('Amélie'), 'the submitted fields are shown');
      const fileId = /\/admin\/kyc\/\d+\/files\/(\d+)/.exec(page.body)?.[1];
      assert.ok(fileId, 'the document is shown inline');
      const file = await fetch(`${t.baseUrl}/admin/kyc/${recordId}/files/${fileId}`, {
        headers: { cookie: [...b.jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      assert.equal(file.status, 200);
      assert.equal(file.headers.get('content-type'), 'image/png');
      assert.equal(file.headers.get('cache-control'), 'no-store');
      assert.deepEqual(Buffer.from(await file.arrayBuffer()), PNG);
      const anonymous = await fetch(`${t.baseUrl}/admin/kyc/${recordId}/files/${fileId}`, { redirect: 'manual' });
      assert.equal(anonymous.status, 302, 'no session, no document');

      // A decision without the form's token changes nothing.
      const forged = await b.post(`/admin/kyc/${recordId}/decision`, { decision: 'PASS' });
      assert.equal(forged.status, 403);
      assert.equal((await t.admin('GET', `/admin/v1/kyc/${recordId}`)).json.statusInfo.kycStatus, 'REVIEW');

      const decided = await b.submit(`/admin/kyc/${recordId}`, `/admin/kyc/${recordId}/decision`, {
        decision: 'REJECT',
        reason: 'The document photo is blurred',
      });
      assert.equal(decided.status, 303);
      const after = await b.get(decided.location!);
      assert.match(after.body, /rejected: The document photo is blurred/);
      const rec = (await t.admin('GET', `/admin/v1/kyc/${recordId}`)).json;
      assert.equal(rec.statusInfo.kycStatus, 'REJECT');
      assert.ok(rec.history.some((h: { note: string | null }) => h.note?.includes('Reviewer decision: REJECT')));
      assert.match(after.body, /Reviewer decision: REJECT \(The document photo is blurred\)/);

      // The same form sent again (a reload that re-posts it): refused before anything is asked of the API.
      const decisionPage = await b.get(`/admin/kyc/${recordId}`);
      const sameForm = {
        csrf: b.csrfIn(decisionPage.body),
        formKey: b.formKeyIn(decisionPage.body)!,
        decision: 'PASS',
      };
      const once = await b.post(`/admin/kyc/${recordId}/decision`, sameForm);
      assert.equal(once.status, 303);
      const twice = await b.post(`/admin/kyc/${recordId}/decision`, sameForm);
      assert.equal(twice.status, 409);
      assert.match(twice.body, /already sent/);
      const noKey = await b.post(`/admin/kyc/${recordId}/decision`, { csrf: sameForm.csrf, decision: 'PASS' });
      assert.equal(noKey.status, 403);

      // Replayed with a fresh form: the record is no longer in review, so nothing changes and the page says why.
      const historyBefore = rec.history.length;
      const replay = await b.submit(`/admin/kyc/${recordId}`, `/admin/kyc/${recordId}/decision`, { decision: 'PASS' });
      const replayPage = await b.get(replay.location!);
      assert.match(replayPage.body, /Not decided/);
      const recAfter = (await t.admin('GET', `/admin/v1/kyc/${recordId}`)).json;
      assert.equal(recAfter.statusInfo.kycStatus, 'REJECT');
      assert.equal(recAfter.history.length, historyBefore);

      const log = (await t.admin('GET', '/admin/v1/audit-log')).json.entries;
      const decision = log.find(
        (e: { path: string; status: number }) => e.path === `/admin/v1/kyc/${recordId}/decision` && e.status === 200,
      );
      assert.equal(decision.actor, `operator:${reviewer.id}`);
      assert.equal(decision.actorEmail, reviewer.email);
      assert.match(decision.summary, /decision=REJECT, reason=The document photo is blurred/);
      assert.ok(
        log.some(
          (e: { path: string; status: number }) => e.path === `/admin/v1/kyc/${recordId}/decision` && e.status === 409,
        ),
      );
    });

    test('the audit log names the admin token, refuses to believe a forged console header, and logs refusals', async () => {
      const created = await t.admin('POST', '/admin/v1/brokers', { name: 'Audit Broker' });
      assert.equal(created.status, 201);
      const forged = await fetch(`${t.baseUrl}/admin/v1/brokers`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${t.adminToken}`,
          'content-type': 'application/json',
          'x-rampart-console-actor': `${'a'.repeat(32)} operator:${admin.id} ${admin.email}`,
        },
        body: JSON.stringify({ name: 'Forged Broker' }),
      });
      assert.equal(forged.status, 201);
      const refused = await fetch(`${t.baseUrl}/admin/v1/brokers`, {
        method: 'POST',
        headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Nope' }),
      });
      assert.equal(refused.status, 401);
      const log = (await t.admin('GET', '/admin/v1/audit-log?limit=10')).json.entries;
      const brokers = log.filter((e: { path: string }) => e.path === '/admin/v1/brokers');
      assert.deepEqual(
        brokers
          .map((e: { actor: string; status: number; summary: string }) => [e.actor, e.status, e.summary])
          .slice(0, 3),
        [
          // Refused before its body was read.
          ['anonymous', 401, ''],
          ['admin-token', 201, 'name=Forged Broker, partialSharing=false, ipWhitelist=[]'],
          ['admin-token', 201, 'name=Audit Broker, partialSharing=false, ipWhitelist=[]'],
        ],
      );
      const secretFree = JSON.stringify(log);
      assert.ok(!secretFree.includes(t.adminToken));
    });

    test('review findings: encoded admin paths are audited, a hostile next= lands on the console, huge ids are 400s', async () => {
      // Its own app: the log-in rate limit (10 a minute from one address) is spent by the tests above.
      const t = await startTestApp({ kind });
      try {
        const encoded = await fetch(`${t.baseUrl}/%61dmin/v1/brokers`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Encoded Path Broker' }),
        });
        assert.equal(encoded.status, 201, 'the same route answers');
        const log = (await t.admin('GET', '/admin/v1/audit-log?limit=5')).json.entries;
        assert.ok(
          log.some(
            (e: { path: string; summary: string }) => e.path === '/admin/v1/brokers' && /Encoded Path/.test(e.summary),
          ),
          'and it is in the audit log',
        );

        for (const next of [
          '/admin/\r\nSet-Cookie: x=1',
          '//evil.example/admin',
          '/admin\\..\\evil',
          'https://evil.example',
        ]) {
          const b = formBrowser(t.baseUrl);
          const r = await b.submit('/admin/login', '/admin/login', { method: 'token', token: t.adminToken, next });
          assert.equal(r.status, 303, next);
          assert.equal(r.location, '/admin', next);
        }

        const huge = '9999999999999999999';
        for (const path of [
          `/admin/v1/kyc/${huge}`,
          `/admin/v1/merchants/${huge}`,
          `/admin/v1/webhooks/deliveries/${huge}`,
        ]) {
          const r = await t.admin('GET', path);
          assert.equal(r.status, 400, path);
        }
        assert.equal((await t.admin('POST', `/admin/v1/kyc/${huge}/decision`, { decision: 'PASS' })).status, 400);
        assert.equal((await t.admin('GET', `/admin/v1/audit-log?before=${huge}`)).status, 400);
        const b = formBrowser(t.baseUrl);
        await b.submit('/admin/login', '/admin/login', { method: 'token', token: t.adminToken });
        assert.equal((await b.get(`/admin/audit-log?before=${huge}`)).status, 200);
      } finally {
        await t.close();
      }
    });

    test('an admin-token session ends when the deployment replaces its admin token', async () => {
      const { sessions, operators } = t.app.services;
      const before = createConsoleSessions({ sessions, operators, adminToken: 'the-old-token' });
      const after = createConsoleSessions({ sessions, operators, adminToken: 'the-new-token' });
      const s = await before.open(null);
      const req = { cookies: { [CONSOLE_COOKIE]: s.cookie } } as unknown as FastifyRequest;
      assert.equal((await before.operator(req))?.role, 'admin');
      assert.equal(await after.operator(req), null);
    });

    test('a form body that cannot be read returns to the page it came from, saying so', async () => {
      const recordId = await kycRecordInReview(t, PNG);
      const b = reviewerSession;
      const page = await b.get(`/admin/kyc/${recordId}`);
      const res = await fetch(`${t.baseUrl}/admin/kyc/${recordId}/decision`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          cookie: [...b.jar].map(([k, v]) => `${k}=${v}`).join('; '),
          'content-type': 'application/x-www-form-urlencoded',
          referer: `${t.baseUrl}/admin/kyc/${recordId}`,
        },
        body: `csrf=${b.csrfIn(page.body)}&formKey=${b.formKeyIn(page.body)}&decision=PASS&decision=REJECT`,
      });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `/admin/kyc/${recordId}`);
      assert.equal((await t.admin('GET', `/admin/v1/kyc/${recordId}`)).json.statusInfo.kycStatus, 'REVIEW');
    });

    test('a disabled operator is logged out at the next request and cannot log in', async () => {
      // Its own app: the log-in rate limit (10 a minute from one address) is spent by the tests above.
      const t2 = await startTestApp({ kind });
      try {
        const op = await createOperator(t2, 'admin');
        const b = formBrowser(t2.baseUrl);
        assert.equal((await consoleLogin(b, op)).status, 303);
        assert.equal((await b.get('/admin')).status, 200);
        assert.equal((await t2.admin('PATCH', `/admin/v1/operators/${op.id}`, { disabled: true })).status, 200);
        assert.equal((await b.get('/admin')).status, 302);
        assert.equal((await consoleLogin(formBrowser(t2.baseUrl), op, op.code(1))).status, 401);
      } finally {
        await t2.close();
      }
    });

    test('log-in attempts are rate-limited per address', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 11 && !statuses.includes(429); i++)
        statuses.push(
          (await formBrowser(t.baseUrl).post('/admin/login', { email: 'x@y.z', password: 'p', code: '1' })).status,
        );
      assert.equal(statuses.at(-1), 429, statuses.join(','));
    });
  });
}
