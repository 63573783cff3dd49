import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createAccountsService } from '../src/accounts/service.ts';
import { seedDemo } from '../src/bootstrap.ts';
import { createManualClock } from '../src/platform/clock.ts';
import { createSecretBox, hashPassword, verifyPassword } from '../src/platform/crypto.ts';
import { migrate, openPg, openPglite, type Db } from '../src/platform/db/client.ts';
import { assertAuditOk, createPayer, DB_KINDS, PG_URL, startTestApp, type DbKind, type TestApp } from './helpers.ts';
import { buyflowFixture } from './support/buyflow-fixture.ts';
import { onboardPartner } from './support/connect-client.ts';
import { formBrowser } from './support/form-browser.ts';

/**
 * Issue #16, one person, one account: the checkout's payer and the buy-flow user are one account (one login, one KYC
 * level, one set of limits), new accounts of every kind get both rows, and migration 0026 joins the accounts made
 * the old way.
 */
let seq = 0;
const newEmail = () => `one${Date.now()}-${++seq}@example.com`;

for (const kind of DB_KINDS) {
  describe(`one account per person (${kind})`, () => {
    let t: TestApp;
    let partner: Awaited<ReturnType<typeof onboardPartner>>;
    before(async () => {
      t = await startTestApp({ kind, env: { CONNECT_RATE_PER_SECOND: '100000' } });
      partner = await onboardPartner(t);
    });
    after(async () => {
      await assertAuditOk(t);
      await t.close();
    });
    const bf = () => t.app.services.buyflow;
    const accounts = () => t.app.services.accounts;
    const { newOrder, newUser, verifiedUser } = buyflowFixture(
      () => t,
      () => partner,
    );
    const lastCode = async (to: string) => /(\d{6})/.exec((await t.app.services.mailer.list(to))[0]!.text)![1]!;

    test('a sandbox payer logs in to the buy flow with the same e-mail and password, as the same account', async () => {
      const p = await createPayer(t, newEmail(), { USDT: '5' }, 'payer-password-1');
      const login = await bf().login({ kind: 'email', identifier: p.email.toUpperCase(), password: p.password });
      assert.ok(login.ok, JSON.stringify(login));
      const v = await bf().verifyCode(login.value.userId, await lastCode(p.email), { terms: true, marketing: false });
      assert.ok(v.ok, JSON.stringify(v));
      const payer = (await accounts().getPayer(p.payerId))!;
      assert.equal(payer.userId, v.value.id, 'the payer profile is the buy-flow account');
      assert.equal(await bf().payerOf(v.value.id), p.payerId);
      assert.equal(v.value.kycLevel, 'VERIFIED', "the sandbox's PASS is the account's KYC level");
      const wrong = await bf().login({ kind: 'email', identifier: p.email, password: 'not-the-password' });
      assert.equal(!wrong.ok && wrong.code, 'BAD_CREDENTIALS');
    });

    test('a buy-flow sign-up has a payer profile (an empty wallet) and logs in at the checkout once its code is entered', async () => {
      const email = newEmail();
      const s = await bf().signup({ kind: 'email', identifier: email, password: 'Passw0rdX' });
      assert.ok(s.ok);
      const payer = (await accounts().findPayerByEmail(email))!;
      assert.ok(payer, 'created with the account');
      assert.equal(payer.userId, s.value.userId);
      assert.equal(payer.kycStatus, 'PENDING');
      assert.equal((await accounts().authenticatePayer(email, 'Passw0rdX')).ok, false, 'e-mail not proven yet');
      const v = await bf().verifyCode(s.value.userId, await lastCode(email), { terms: true, marketing: false });
      assert.ok(v.ok);
      const auth = await accounts().authenticatePayer(email, 'Passw0rdX');
      assert.deepEqual(auth.ok && [String(auth.value.payerId), auth.value.email], [String(payer.payerId), email]);
      assert.deepEqual(await t.app.services.ledger.balances(t.db, 'payer', String(payer.payerId)), []);
      // A phone account has no e-mail: no payer profile (it cannot log in at the checkout or receive e-mail payouts).
      const phone = await bf().signup({
        kind: 'phone',
        identifier: `+3361${Date.now() % 10_000_000}`,
        password: 'Passw0rdX',
      });
      assert.ok(phone.ok);
      assert.equal(await bf().payerOf(phone.value.userId), null);
    });

    test('one KYC level: a buy-flow KYC pass is PASS for payouts; the sandbox decision on the payer id sets the account', async () => {
      const u = await verifiedUser('FR');
      const payer = (await accounts().findPayerByEmail(u.identifier))!;
      assert.equal(payer.kycStatus, 'PASS');
      assert.deepEqual([...(await accounts().verifiedPayersByEmail([u.identifier])).values()].map(String), [
        String(payer.payerId),
      ]);
      assert.equal(await accounts().payerCountry(String(payer.payerId)), 'FR', "the account's KYC country");

      const rejected = await t.admin('POST', `/sandbox/v1/kyc/${payer.payerId}/decision`, { decision: 'REJECT' });
      assert.equal(rejected.status, 200, JSON.stringify(rejected.json));
      assert.equal(rejected.json.kycStatus, 'REJECT');
      assert.equal((await bf().getUser(u.id))!.kycLevel, 'NONE');

      const fresh = await newUser();
      const fp = (await accounts().findPayerByEmail(fresh.identifier))!;
      assert.equal(fp.kycStatus, 'PENDING');
      const passed = await t.admin('POST', `/sandbox/v1/kyc/${fp.payerId}/decision`, { decision: 'PASS' });
      assert.deepEqual([passed.status, passed.json.kycStatus], [200, 'PASS']);
      assert.equal((await bf().getUser(fresh.id))!.kycLevel, 'VERIFIED', 'the buy flow sees the same level');
    });

    test("the demo seed's payer is one account: its password works at the checkout and in the buy flow", async () => {
      const seeded = await seedDemo(t.app, t.db, t.config);
      assert.equal(seeded.seeded, true);
      const creds = JSON.parse(readFileSync(seeded.path, 'utf8'));
      assert.equal(creds.payer.loginUrl, `${t.baseUrl}/login`);
      const auth = await accounts().authenticatePayer(creds.payer.email, creds.payer.password);
      assert.deepEqual(auth.ok && String(auth.value.payerId), creds.payer.payerId);
      const bfLogin = await bf().login({
        kind: 'email',
        identifier: creds.payer.email,
        password: creds.payer.password,
      });
      assert.ok(bfLogin.ok);
      assert.equal(await bf().payerOf(bfLogin.value.userId), creds.payer.payerId);
      assert.equal(creds.payer.balances.USDT, '10000');
    });

    test('logging in to the buy flow (password and code) also opens the checkout session of the same person', async () => {
      const p = await createPayer(t, newEmail(), {}, 'payer-password-2');
      const { token } = await newOrder('100');
      const b = formBrowser(t.baseUrl);
      const base = `/en/connect/buyflow`;
      const page = await b.get(`${base}?token=${token}&step=login`);
      const login = await b.post(`${base}/login?token=${token}`, {
        csrf: b.csrfIn(page.body),
        kind: 'email',
        identifier: p.email,
        password: p.password,
      });
      assert.equal(login.status, 303);
      assert.equal(b.jar.get('rampart_payer'), undefined, 'not before the code');
      const verify = await b.post(`${base}/verify?token=${token}`, {
        csrf: b.csrfIn(page.body),
        code: await lastCode(p.email),
        terms: '1',
      });
      assert.equal(verify.status, 303);
      const payerCookie = b.setCookies.find((c) => c.startsWith('rampart_payer='))!;
      assert.match(payerCookie, /Path=\/;/);
      assert.match(payerCookie, /SameSite=Lax/);
      const s = await t.app.services.sessions.get(b.jar.get('rampart_payer'), 'payer');
      assert.equal(s?.subjectId, p.payerId);
      assert.match((await b.get('/login')).body, new RegExp(`You are logged in[\\s\\S]*${p.email}`));
    });
  });
}

/** A database migrated up to (not including) `stop`, so rows can be written the old way. */
async function databaseBefore(kind: DbKind, stop: string): Promise<{ db: Db; later: string[]; drop(): Promise<void> }> {
  let db: Db;
  let drop: () => Promise<void>;
  if (kind === 'pglite') {
    db = await openPglite(undefined);
    drop = () => db.close();
  } else {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const admin = openPg(PG_URL, { max: 1 });
    await admin.query(`CREATE SCHEMA ${schema}`);
    db = openPg(PG_URL, { searchPath: schema, max: 4 });
    drop = async () => {
      await db.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.close();
    };
  }
  const later = readdirSync(new URL('../src/platform/db/migrations/', import.meta.url))
    .filter((f) => f.endsWith('.sql') && f >= stop)
    .sort();
  // Marked applied so that migrate() stops before them; unmarked again before the real run.
  await db.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  for (const f of later) await db.query(`INSERT INTO schema_migrations (name) VALUES ($1)`, [f]);
  await migrate(db);
  return { db, later, drop };
}

for (const kind of DB_KINDS) {
  test(`migration 0026 joins payers and buy-flow users made the old way: one login and one KYC level each (${kind})`, async () => {
    const { db, later, drop } = await databaseBefore(kind, '0026');
    try {
      const now = Date.UTC(2026, 0, 1);
      const h = Object.fromEntries(
        await Promise.all(
          ['payer-a', 'buyflow-a', 'payer-b', 'squatter-b', 'payer-c', 'Buyflow-d1', 'Phone-e1'].map(
            async (p) => [p, await hashPassword(p)] as const,
          ),
        ),
      );
      const payer = (id: number, email: string, hash: string, kyc: string, country: string | null = null) =>
        db.query(
          `INSERT INTO payers (id, email, password_hash, created_at, kyc_status, country) VALUES ($1, $2, $3, $4, $5, $6)`,
          [id, email, hash, now, kyc, country],
        );
      const user = (id: string, identifier: string, kindOf: string, hash: string, verified: boolean, level = 'NONE') =>
        db.query(
          `INSERT INTO buyflow_users (id, identifier, identifier_kind, password_hash, verified_at, kyc_level, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [id, identifier, kindOf, hash, verified ? now + 1 : null, level, now + 1],
        );
      // A: both, the buy-flow account verified (its password survives); the payer's PASS verifies the account.
      await payer(1000140001300, 'a@example.com', h['payer-a']!, 'PASS');
      await user('1900000000000000001', 'a@example.com', 'email', h['buyflow-a']!, true);
      // B: both, the buy-flow account never proven (the payer's password survives); REJECT and country kept.
      await payer(1000140001301, 'b@example.com', h['payer-b']!, 'REJECT', 'DE');
      await user('1900000000000000002', 'b@example.com', 'email', h['squatter-b']!, false);
      // C: a payer alone, PENDING. D: a buy-flow account alone, verified at VERIFIED_PLUS. E: a phone account.
      await payer(1000140001302, 'c@example.com', h['payer-c']!, 'PENDING');
      await user('1900000000000000004', 'd@example.com', 'email', h['Buyflow-d1']!, true, 'VERIFIED_PLUS');
      await user('1900000000000000005', '+33612345678', 'phone', h['Phone-e1']!, true);
      await db.query(`DELETE FROM schema_migrations WHERE name = ANY($1::text[])`, [later]);
      assert.deepEqual((await migrate(db)).slice(0, 1), ['0026_person_accounts.sql']);

      const accounts = createAccountsService({
        db,
        clock: createManualClock(now),
        box: createSecretBox(randomBytes(32).toString('hex')),
      });
      const login = async (email: string, password: string) => {
        const r = await accounts.authenticatePayer(email, password);
        return r.ok ? String(r.value.payerId) : null;
      };
      // One login per person: the surviving password works at the checkout and in the buy flow (the account's row).
      const bfLogin = async (identifier: string, password: string) => {
        const r = (
          await db.query(`SELECT password_hash, verified_at FROM buyflow_users WHERE identifier = $1`, [identifier])
        ).rows[0];
        return r.password_hash !== null && r.verified_at !== null && (await verifyPassword(password, r.password_hash));
      };
      assert.deepEqual(
        [await login('a@example.com', 'buyflow-a'), await login('a@example.com', 'payer-a')],
        ['1000140001300', null],
        "A: the verified buy-flow account's password, at the payer's id (its ledger owner id, unchanged)",
      );
      assert.deepEqual(
        [await bfLogin('a@example.com', 'buyflow-a'), await bfLogin('a@example.com', 'payer-a')],
        [true, false],
      );
      assert.deepEqual(
        [await login('b@example.com', 'payer-b'), await login('b@example.com', 'squatter-b')],
        ['1000140001301', null],
        "B: the unproven account's password is dropped for the payer's",
      );
      assert.deepEqual(
        [await bfLogin('b@example.com', 'payer-b'), await bfLogin('b@example.com', 'squatter-b')],
        [true, false],
      );
      assert.equal(await login('c@example.com', 'payer-c'), '1000140001302');
      assert.equal(await bfLogin('c@example.com', 'payer-c'), true, 'C: an account was made for the payer');
      const d = (await accounts.findPayerByEmail('d@example.com'))!;
      assert.ok(d, 'D: a payer profile was made for the account');
      assert.equal(await login('d@example.com', 'Buyflow-d1'), String(d.payerId));

      // One KYC level per person, seen the same from both sides.
      const levels = (
        await db.query(`SELECT identifier, kyc_level, country FROM buyflow_users ORDER BY identifier`)
      ).rows.map((r) => [r.identifier, r.kyc_level, r.country]);
      assert.deepEqual(levels, [
        ['+33612345678', 'NONE', null],
        ['a@example.com', 'VERIFIED', null],
        ['b@example.com', 'NONE', 'DE'],
        ['c@example.com', 'NONE', null],
        ['d@example.com', 'VERIFIED_PLUS', null],
      ]);
      const kycOf = async (e: string) => (await accounts.findPayerByEmail(e))!.kycStatus;
      assert.deepEqual(await Promise.all(['a', 'b', 'c', 'd'].map((x) => kycOf(`${x}@example.com`))), [
        'PASS',
        'REJECT',
        'PENDING',
        'PASS',
      ]);
      assert.equal(await accounts.payerCountry('1000140001301'), 'DE');

      // One account each: every payer is linked to exactly one account; the phone account has no payer profile.
      const links = (
        await db.query(
          `SELECT u.identifier, count(p.id)::int AS payers FROM buyflow_users u LEFT JOIN payers p ON p.user_id = u.id
            GROUP BY u.identifier ORDER BY u.identifier`,
        )
      ).rows.map((r) => [r.identifier, r.payers]);
      assert.deepEqual(links, [
        ['+33612345678', 0],
        ['a@example.com', 1],
        ['b@example.com', 1],
        ['c@example.com', 1],
        ['d@example.com', 1],
      ]);
      await assert.rejects(
        db.query(`INSERT INTO payers (user_id, created_at) VALUES (NULL, 1)`),
        'payers.user_id is NOT NULL after the migration',
      );
    } finally {
      await drop();
    }
  });
}
