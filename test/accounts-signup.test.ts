import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { safeNext } from '../src/accounts/routes.ts';
import { assertAuditOk, createPayer, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';
import { formBrowser as browser, type FormBrowser as Browser } from './support/form-browser.ts';

/**
 * Issue #16, people can sign up: /signup (e-mail, the mailed 6-digit code, a password), /login and /logout over HTTP,
 * the payer session they open (the checkout's), `next` kept on this host, the code's limits, and every sign-up form
 * refused at every step where it does not apply, changing nothing.
 */

let seq = 0;
const newEmail = () => `person${Date.now()}-${++seq}@example.com`;

for (const kind of DB_KINDS) {
  describe(`person sign-up and login (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind });
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });
    const lastCode = async (email: string) => /(\d{6})/.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;

    /** A browser taken through the e-mail step (and the code step when `prove`). */
    async function atStep(step: 'CODE' | 'PASSWORD', email = newEmail()) {
      const b = browser(t.baseUrl);
      const r = await b.submit('/signup', '/signup', { email, next: '/checkout/abc' });
      assert.equal(r.status, 303, r.body);
      if (step === 'PASSWORD') {
        const c = await b.submit('/signup', '/signup/code', { code: await lastCode(email), next: '/checkout/abc' });
        assert.equal(c.status, 303, c.body);
      }
      return { b, email };
    }

    test('sign-up: e-mail, the mailed code, a password; the payer session opens and the page goes to next', async () => {
      const b = browser(t.baseUrl);
      const email = newEmail();
      const first = await b.get('/signup?next=%2Fcheckout%2Ftok123');
      assert.equal(first.status, 200);
      assert.match(first.body, /Create your account/);
      assert.match(first.body, /name="next" value="\/checkout\/tok123"/);

      const sent = await b.post('/signup', {
        csrf: b.csrfIn(first.body),
        email: email.toUpperCase(),
        next: '/checkout/tok123',
      });
      assert.equal(sent.status, 303);
      assert.equal(sent.location, '/signup?next=%2Fcheckout%2Ftok123&sent=1');
      const mails = await t.app.services.mailer.list(email);
      assert.equal(mails.length, 1, 'one code mailed to the lower-cased e-mail');
      const code = /(\d{6})/.exec(mails[0]!.text)![1]!;
      const stored = (
        await t.db.query(
          `SELECT c.code_hash FROM buyflow_codes c JOIN buyflow_users u ON u.id = c.user_id
        WHERE u.identifier = $1`,
          [email],
        )
      ).rows;
      assert.equal(stored.length, 1);
      assert.ok(!String(stored[0].code_hash).includes(code), 'the code is stored hashed');

      const codePage = await b.get('/signup?next=%2Fcheckout%2Ftok123&sent=1');
      assert.match(codePage.body, /data-step="CODE"/);
      assert.match(codePage.body, new RegExp(`id="sent-to">${email}<`));
      const wrong = await b.post('/signup/code', {
        csrf: b.csrfIn(codePage.body),
        code: code === '000000' ? '000001' : '000000',
        next: '/checkout/tok123',
      });
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, /Wrong code. 4 attempts left./);
      const right = await b.post('/signup/code', { csrf: b.csrfIn(codePage.body), code, next: '/checkout/tok123' });
      assert.equal(right.status, 303);
      assert.equal(
        await t.app.services.accounts.authenticatePayer(email, 'Sunny-Day-42').then((r) => r.ok),
        false,
        'no login before a password is chosen',
      );

      const pwPage = await b.get('/signup?next=%2Fcheckout%2Ftok123');
      assert.match(pwPage.body, /data-step="PASSWORD"/);
      const weak = await b.post('/signup/password', {
        csrf: b.csrfIn(pwPage.body),
        password: 'short',
        terms: '1',
        next: '/checkout/tok123',
      });
      assert.equal(weak.status, 400);
      assert.match(weak.body, /8 to 128 characters/);
      const noTerms = await b.post('/signup/password', {
        csrf: b.csrfIn(pwPage.body),
        password: 'Sunny-Day-42',
        next: '/checkout/tok123',
      });
      assert.equal(noTerms.status, 400);
      assert.match(noTerms.body, /Terms of Use/);
      const done = await b.post('/signup/password', {
        csrf: b.csrfIn(pwPage.body),
        password: 'Sunny-Day-42',
        terms: '1',
        next: '/checkout/tok123',
      });
      assert.equal(done.status, 303);
      assert.equal(done.location, '/checkout/tok123');
      const cookie = b.setCookies.filter((c) => c.startsWith('rampart_payer=')).at(-1)!;
      assert.match(cookie, /Path=\//);
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Lax/);

      // The session is the checkout's: a payer session of this e-mail's payer profile.
      const s = await t.app.services.sessions.get(b.jar.get('rampart_payer'), 'payer');
      const payer = await t.app.services.accounts.findPayerByEmail(email);
      assert.equal(s?.subjectId, String(payer!.payerId));
      assert.equal(payer!.kycStatus, 'PENDING', 'a new person has not passed KYC');
      const logged = await b.get('/login?next=/wallet');
      assert.match(logged.body, new RegExp(`You are logged in[\\s\\S]*${email}`));
      // One login: the same e-mail and password at the checkout's check and the buy flow.
      assert.ok((await t.app.services.accounts.authenticatePayer(email, 'Sunny-Day-42')).ok);
      assert.ok(
        (await t.app.services.buyflow.login({ kind: 'email', identifier: email, password: 'Sunny-Day-42' })).ok,
      );
      // Finished: the sign-up session is gone, so its forms no longer apply.
      const again = await b.post('/signup/password', {
        csrf: b.csrfIn(pwPage.body),
        password: 'Other-Pass-9',
        terms: '1',
        next: '/x',
      });
      assert.equal(again.status, 409);
      assert.ok((await t.app.services.accounts.authenticatePayer(email, 'Sunny-Day-42')).ok);
    });

    test('next is a relative path on this host only: anything else goes to /wallet', async () => {
      const cases: [string, string][] = [
        ['/checkout/abc', '/checkout/abc'],
        ['/wallet?tab=deposits', '/wallet?tab=deposits'],
        ['//evil.example/x', '/wallet'],
        ['/\\evil.example', '/wallet'],
        ['https://evil.example/', '/wallet'],
        ['/\t/evil.example', '/wallet'],
        ['javascript:alert(1)', '/wallet'],
        ['', '/wallet'],
        ['checkout/abc', '/wallet'],
        [`/${'a'.repeat(600)}`, '/wallet'],
      ];
      for (const [next, expected] of cases) assert.equal(safeNext(next), expected, JSON.stringify(next));
      assert.equal(safeNext(undefined), '/wallet');
      // Through the login form too.
      const p = await createPayer(t, newEmail(), {});
      const b = browser(t.baseUrl);
      const r = await b.submit('/login', '/login', { email: p.email, password: p.password, next: '//evil.example/x' });
      assert.equal(r.status, 303);
      assert.equal(r.location, '/wallet');
    });

    test('code limits: a new code only after 59 s and 5 an hour, 10 minutes of validity, 5 wrong entries void it', async () => {
      const { b, email } = await atStep('CODE');
      const resend = await b.submit('/signup', '/signup/resend', { next: '/x' });
      assert.equal(resend.status, 429);
      assert.match(resend.body, /You can ask for a new code in \d+ s/);
      for (let i = 0; i < 4; i++) {
        t.clock.advance!(60_000);
        assert.equal((await b.submit('/signup', '/signup/resend', { next: '/x' })).status, 303);
      }
      t.clock.advance!(60_000);
      const sixth = await b.submit('/signup', '/signup/resend', { next: '/x' });
      assert.equal(sixth.status, 429);
      assert.match(sixth.body, /Too many codes/);
      assert.equal((await t.app.services.mailer.list(email)).length, 5);

      t.clock.advance!(3_600_000);
      assert.equal((await b.submit('/signup', '/signup/resend', { next: '/x' })).status, 303);
      const code = await lastCode(email);
      t.clock.advance!(10 * 60_000);
      const late = await b.submit('/signup', '/signup/code', { code });
      assert.equal(late.status, 400);
      assert.match(late.body, /The code has expired/);

      t.clock.advance!(60_000);
      assert.equal((await b.submit('/signup', '/signup/resend', { next: '/x' })).status, 303);
      const fresh = await lastCode(email);
      const wrong = fresh === '111111' ? '222222' : '111111';
      for (let i = 0; i < 5; i++)
        assert.equal((await b.submit('/signup', '/signup/code', { code: wrong })).status, 400);
      const voided = await b.submit('/signup', '/signup/code', { code: fresh });
      assert.equal(voided.status, 400);
      assert.match(voided.body, /The code has expired/);
    });

    test('an e-mail already set up is refused; an unverified one is claimed by proving the code', async () => {
      const p = await createPayer(t, newEmail(), {});
      const taken = await browser(t.baseUrl).submit('/signup', '/signup', { email: p.email });
      assert.equal(taken.status, 409);
      assert.match(taken.body, /already set up. Log in instead/);
      assert.equal((await t.app.services.mailer.list(p.email)).length, 0, 'no code sent');

      // Someone started a buy-flow account with this e-mail and never entered its code: the owner of the e-mail
      // signs up here, and only the password chosen after the code logs in.
      const email = newEmail();
      const squat = await t.app.services.buyflow.signup({ kind: 'email', identifier: email, password: 'Squatter-1' });
      assert.ok(squat.ok);
      assert.equal((await t.app.services.accounts.authenticatePayer(email, 'Squatter-1')).ok, false, 'unproven');
      t.clock.advance!(60_000);
      const { b } = await atStep('PASSWORD', email);
      assert.equal(
        (await b.submit('/signup', '/signup/password', { password: 'Owner-Pass-7', terms: '1' })).status,
        303,
      );
      assert.ok((await t.app.services.accounts.authenticatePayer(email, 'Owner-Pass-7')).ok);
      assert.equal((await t.app.services.accounts.authenticatePayer(email, 'Squatter-1')).ok, false);
      const user = (await t.db.query(`SELECT id::text FROM buyflow_users WHERE identifier = $1`, [email])).rows[0];
      assert.equal(user.id, squat.value.userId, 'the same account, now verified');
    });

    test('every sign-up form at every step: refused with nothing changed where it does not apply', async () => {
      const forms: Record<string, [string, Record<string, string>]> = {
        email: ['/signup', { email: '' }],
        code: ['/signup/code', { code: '' }],
        resend: ['/signup/resend', {}],
        password: ['/signup/password', { password: '', terms: '1' }],
        restart: ['/signup/restart', {}],
      };
      // A finished sign-up leaves no sign-up session: that browser may start another one.
      const applies: Record<string, string[]> = {
        email: ['EMAIL', 'DONE'],
        code: ['CODE'],
        resend: ['CODE'],
        password: ['PASSWORD'],
        restart: ['CODE', 'PASSWORD'],
      };
      const fingerprint = async () =>
        JSON.stringify(
          await Promise.all(
            [
              `SELECT id, password_hash, verified_at, consent_at FROM buyflow_users ORDER BY id`,
              `SELECT id, attempts, consumed_at FROM buyflow_codes ORDER BY id`,
              `SELECT id, user_id FROM payers ORDER BY id`,
              `SELECT id_hash, subject_type FROM sessions ORDER BY id_hash`,
            ].map(async (sql) => (await t.db.query(sql)).rows),
          ),
          (_k, v) => (typeof v === 'bigint' ? String(v) : v),
        );
      const states: Record<string, () => Promise<Browser>> = {
        EMAIL: async () => browser(t.baseUrl),
        CODE: async () => (await atStep('CODE')).b,
        PASSWORD: async () => (await atStep('PASSWORD')).b,
        DONE: async () => {
          const { b } = await atStep('PASSWORD');
          assert.equal(
            (await b.submit('/signup', '/signup/password', { password: 'Done-Pass-1', terms: '1' })).status,
            303,
          );
          return b;
        },
      };
      // A refused form changes nothing, so one browser per state serves every form.
      for (const [state, make] of Object.entries(states)) {
        const b = await make();
        for (const [form, [action, body]] of Object.entries(forms)) {
          if (applies[form]!.includes(state)) continue;
          await b.get('/signup');
          const before = await fingerprint();
          // The form token of the sign-up pages (a replayed form carries it; a logged-in page shows another form).
          const r = await b.post(action, { csrf: b.jar.get('rampart_people_csrf')!, ...body });
          assert.equal(r.status, 409, `${form} at ${state}: ${r.body.slice(0, 200)}`);
          assert.match(r.body, /class="error"/, `${form} at ${state} shows why`);
          assert.equal(await fingerprint(), before, `${form} at ${state} changed nothing`);
        }
      }
      // Without the form token nothing runs at any step.
      for (const [state, make] of Object.entries(states)) {
        const b = await make();
        const before = await fingerprint();
        for (const [form, [action, body]] of Object.entries(forms))
          assert.equal((await b.post(action, { csrf: 'x'.repeat(32), ...body })).status, 403, `${form} at ${state}`);
        assert.equal(await fingerprint(), before);
      }
    });

    test('login and logout: wrong password refused, the session opens and ends; logout needs the session token', async () => {
      const p = await createPayer(t, newEmail(), {});
      const b = browser(t.baseUrl);
      const bad = await b.submit('/login?next=/wallet', '/login', {
        email: p.email,
        password: 'wrong-password',
        next: '/wallet',
      });
      assert.equal(bad.status, 401);
      assert.match(bad.body, /Wrong e-mail or password/);
      const good = await b.submit('/login?next=/wallet', '/login', {
        email: p.email,
        password: p.password,
        next: '/wallet',
      });
      assert.equal(good.status, 303);
      assert.equal(good.location, '/wallet');
      const cookie = b.jar.get('rampart_payer');
      assert.equal((await t.app.services.sessions.get(cookie, 'payer'))?.subjectId, p.payerId);

      const forged = await b.post('/logout', { csrf: 'x'.repeat(32) });
      assert.equal(forged.status, 403);
      assert.ok(await t.app.services.sessions.get(cookie, 'payer'), 'still logged in');
      const page = await b.get('/login');
      const out = await b.post('/logout', { csrf: b.csrfIn(page.body), next: '/login?next=%2Fwallet' });
      assert.equal(out.status, 303);
      assert.equal(out.location, '/login?next=%2Fwallet');
      assert.equal(await t.app.services.sessions.get(cookie, 'payer'), null, 'the session ended');
      assert.match((await b.get('/login')).body, /id="login"/);
    });
  });
}
