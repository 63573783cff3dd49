import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createWalletClient, http, parseUnits, type Address } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC } from '../src/chain/anvil.ts';
import TestToken from '../src/chain/contracts/TestToken.json' with { type: 'json' };
import { randomAddress } from './chain-fixture.ts';
import { transactionUrl } from '../src/wallet/withdrawals.ts';
import { assertAuditOk, createPayer, DB_KINDS, snapshot, startTestApp, type TestApp } from './helpers.ts';

/**
 * The wallet pages (src/wallet) over HTTP: the login redirect, balances, the deposit page (address, EIP-681 QR,
 * minimum, confirmations) and its live JSON while a token deposit confirms on the embedded anvil, and the
 * withdrawal step machine: form checks, the fee, the e-mailed code (hashed, tries, expiry, one use), a withdrawal
 * sent on anvil and its fee posted, two confirms racing, and every form replayed at every step changing nothing.
 */
interface Client {
  payerId: string;
  email: string;
  csrf: string;
  get(path: string): Promise<{ status: number; text: string; location: string | null }>;
  post(path: string, form: Record<string, string>): Promise<{ status: number; text: string; location: string | null }>;
}

async function loginAs(t: TestApp, email: string, balances: Record<string, string>): Promise<Client> {
  const p = await createPayer(t, email, balances);
  const s = await t.app.services.sessions.create('payer', p.payerId);
  const cookie = `rampart_payer=${s.cookie}`;
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(t.baseUrl + path, { ...init, redirect: 'manual', headers: { cookie, ...init.headers } });
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  };
  return {
    payerId: p.payerId,
    email,
    csrf: s.csrf,
    get: (path) => call(path),
    post: (path, form) =>
      call(path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      }),
  };
}

const latestCode = async (t: TestApp, email: string) =>
  /is (\d{6})\./.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const idOf = (location: string | null) => /\/wallet\/withdrawals\/(\d+)$/.exec(location ?? '')![1]!;

test('a withdrawal links its transaction to the network explorer in production, never to a sandbox dev chain', () => {
  const hash = `0x${'ab'.repeat(32)}`;
  assert.equal(transactionUrl('production', 'ETH', hash), `https://etherscan.io/tx/${hash}`);
  assert.equal(transactionUrl('production', 'BSC', hash), `https://bscscan.com/tx/${hash}`);
  assert.equal(transactionUrl('sandbox', 'ETH', hash), null);
  assert.equal(transactionUrl('sandbox', 'TRX', hash), null);
});

for (const kind of DB_KINDS) {
  describe(`wallet pages and withdrawals (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind, workers: true });
    });
    after(async () => {
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    const rows = async (payerId: string) =>
      (
        await t.db.query(`SELECT * FROM wallet_withdrawals WHERE payer_id = $1 ORDER BY created_at, id::numeric`, [
          payerId,
        ])
      ).rows;
    const balance = async (payerId: string, asset: string) =>
      t.app.services.ledger.balance(t.db, { ownerType: 'payer', ownerId: payerId, asset });

    test('without a session every wallet page sends the person to log in and comes back', async () => {
      for (const path of ['/wallet', '/wallet/deposit/ETH/USDT', '/wallet/withdraw', '/wallet/withdrawals/1']) {
        const res = await fetch(t.baseUrl + path, { redirect: 'manual' });
        assert.equal(res.status, 303, path);
        assert.equal(res.headers.get('location'), `/login?next=${encodeURIComponent(path)}`);
      }
      assert.equal((await fetch(`${t.baseUrl}/wallet/live.json`)).status, 401);
      const post = await fetch(`${t.baseUrl}/wallet/withdraw`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'option=USDT%3AETH&address=x&amount=10',
      });
      assert.equal(post.status, 303);
      assert.equal(await t.db.query(`SELECT 1 FROM wallet_withdrawals`).then((r) => r.rows.length), 0);
    });

    test('balances per asset, a deposit page per network with the EIP-681 QR, and live confirmations', async () => {
      const c = await loginAs(t, `dep-${kind}@example.com`, { USDT: '5' });
      const home = await c.get('/wallet');
      assert.equal(home.status, 200);
      assert.match(home.text, /data-balance="USDT"[\s\S]*?>5\.00</);
      assert.match(home.text, /id="no-deposits"/);
      assert.match(home.text, /id="no-withdrawals"/);

      const page = await c.get('/wallet/deposit/ETH/USDT');
      assert.equal(page.status, 200);
      const { address } = await t.app.services.chain.depositAddress('payer', c.payerId);
      const eth = await t.app.services.chain.evm('ETH');
      const usdt = eth.tokens.get('USDT')!;
      assert.ok(page.text.includes(`id="address"`) && page.text.includes(`>${address}<`), 'the address is shown');
      assert.ok(
        page.text.includes(`data-uri="ethereum:${usdt.address}@${eth.chainId}/transfer?address=${address}"`),
        'a token deposit QR is EIP-681 on the network chain id',
      );
      assert.match(page.text, /id="min">1\.00 USDT</);
      assert.match(page.text, /id="confirmations">12 blocks</);
      assert.match(page.text, /credited too/);
      const native = await c.get('/wallet/deposit/ETH/ETH');
      assert.ok(native.text.includes(`data-uri="${address}"`), 'the native coin QR is the plain address');
      const qr = await fetch(`${t.baseUrl}/wallet/deposit/ETH/USDT/qr.png`, {
        headers: { cookie: `rampart_payer=${(await t.app.services.sessions.create('payer', c.payerId)).cookie}` },
      });
      assert.equal(qr.headers.get('content-type'), 'image/png');
      assert.equal((await c.get('/wallet/deposit/TRX/USDT')).status, 404, 'simulated networks have no deposit page');

      const owner = mnemonicToAccount(ANVIL_DEV_MNEMONIC);
      const dev = createWalletClient({ account: owner, transport: http(eth.rpcUrl) });
      await dev.writeContract({
        address: usdt.address,
        abi: TestToken.abi,
        functionName: 'mint',
        args: [address as Address, parseUnits('20', 6)],
        chain: null,
      });
      const live = async () => JSON.parse((await c.get('/wallet/live.json')).text);
      const pending = await until('the deposit seen', async () => (await live()).deposits[0]);
      assert.equal(pending.status, 'pending');
      assert.equal(pending.confirmationsRequired, 12);
      assert.ok(pending.confirmations >= 1 && pending.confirmations < 12);
      await t.app.services.chain
        .evm('ETH')
        .then((a) => a.client.request({ method: 'anvil_mine' as any, params: ['0x3'] as any }));
      await until('confirmations counting up', async () => (await live()).deposits[0].confirmations >= 4);
      await eth.client.request({ method: 'anvil_mine' as any, params: ['0xa'] as any });
      const credited = await until('the deposit credited', async () => {
        const j = await live();
        return j.deposits[0].status === 'credited' && j;
      });
      assert.deepEqual(
        credited.balances.find((b: { asset: string }) => b.asset === 'USDT'),
        { asset: 'USDT', available: '25', held: '0' },
      );
      assert.match((await c.get('/wallet')).text, /Credited/);
    });

    test('the withdraw form checks address, memo, amount and balance before any code is sent', async () => {
      const c = await loginAs(t, `form-${kind}@example.com`, { USDT: '20', XRP: '100' });
      const form = (over: Record<string, string>) => ({
        csrf: c.csrf,
        option: 'USDT:ETH',
        address: randomAddress(),
        memo: '',
        amount: '10',
        ...over,
      });
      const before = await snapshot(t.db);
      const cases: [Record<string, string>, RegExp][] = [
        [{ address: '0x1234' }, /invalid ETH address/],
        [{ address: 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', option: 'XRP:XRP', amount: '20' }, /memo|tag/i],
        [{ amount: '9' }, /between 10 and/],
        [{ amount: '1.5e3' }, /as a number/],
        [{ amount: '19.5' }, /Not enough USDT: 20\.5 needed/],
        [{ option: 'USDT:NOPE' }, /cannot be withdrawn/],
      ];
      for (const [over, message] of cases) {
        const res = await c.post('/wallet/withdraw', form(over));
        assert.equal(res.status, 400, JSON.stringify(over));
        assert.match(res.text, message);
      }
      assert.equal((await c.post('/wallet/withdraw', { ...form({}), csrf: 'x'.repeat(32) })).status, 403);
      assert.deepEqual(await snapshot(t.db), before, 'a refused form writes nothing and mails nothing');
      const page = await c.get('/wallet/withdraw');
      assert.match(page.text, /network fee\s+1\.00 USDT/);
    });

    test('a withdrawal: fee shown, code mailed and hashed, wrong code counted, sent on anvil, fee posted', async () => {
      const c = await loginAs(t, `wd-${kind}@example.com`, { USDT: '100' });
      const to = randomAddress();
      const start = await c.post('/wallet/withdraw', { csrf: c.csrf, option: 'USDT:ETH', address: to, amount: '30' });
      assert.equal(start.status, 303);
      const id = idOf(start.location);
      const code = await latestCode(t, c.email);
      assert.match(
        (await t.app.services.mailer.list(c.email))[0]!.text,
        /withdrawal of 30\.00 USDT on ETH/,
        'the mail shows the amount as a person reads it',
      );
      const [row] = await rows(c.payerId);
      assert.equal(row.step, 'code_sent');
      assert.doesNotMatch(row.code_hash, new RegExp(code), 'the code is stored hashed');
      const shown = await c.get(`/wallet/withdrawals/${id}`);
      assert.match(shown.text, /id="fee">1\.00 USDT/);
      assert.match(shown.text, /id="total">31\.00 USDT/);
      assert.equal((await balance(c.payerId, 'USDT')).available, '100', 'nothing is held before the code');

      const wrong = await c.post(`/wallet/withdrawals/${id}/confirm`, {
        csrf: c.csrf,
        code: code === '000000' ? '111111' : '000000',
      });
      assert.equal(wrong.status, 409);
      assert.match(wrong.text, /Wrong code\. 4 tries left/);
      const ok = await c.post(`/wallet/withdrawals/${id}/confirm`, { csrf: c.csrf, code });
      assert.equal(ok.status, 303);
      const requested = (await rows(c.payerId))[0];
      assert.equal(requested.step, 'requested');
      const chainW = await t.app.services.chain.withdrawals.getByRef(`wallet:${id}`);
      assert.ok(chainW);
      assert.deepEqual([chainW.amount, chainW.address, chainW.asset, chainW.network], ['30', to, 'USDT', 'ETH']);
      assert.equal((await balance(c.payerId, 'USDT')).available, '69', '30 held by the chain, 1 fee held');

      const eth = await t.app.services.chain.evm('ETH');
      await until(
        'the transaction in a block',
        async () => (await t.app.services.chain.withdrawals.get(chainW.id))?.txHash,
      );
      await eth.client.request({ method: 'anvil_mine' as any, params: ['0xc'] as any });
      await until('the wallet withdrawal completed', async () => (await rows(c.payerId))[0].step === 'completed');
      const b = await balance(c.payerId, 'USDT');
      assert.deepEqual([b.posted, b.held], ['69', '0']);
      const usdt = eth.tokens.get('USDT')!;
      const onChain = await eth.client.readContract({
        address: usdt.address,
        abi: TestToken.abi,
        functionName: 'balanceOf',
        args: [to],
      });
      assert.equal(onChain, parseUnits('30', 6));
      const done = await c.get(`/wallet/withdrawals/${id}`);
      const hash = (await t.app.services.chain.withdrawals.get(chainW.id))!.txHash!;
      assert.match(done.text, /id="state">Sent</);
      assert.ok(done.text.includes(`<span id="tx">${hash}</span>`), 'the hash (no public explorer for a dev chain)');
      assert.match((await c.get('/wallet')).text, /−31\.00 USDT[\s\S]*Sent/);
      // The code is used: confirming again changes nothing.
      const again = await c.post(`/wallet/withdrawals/${id}/confirm`, { csrf: c.csrf, code });
      assert.equal(again.status, 409);
      assert.equal(
        (await t.db.query(`SELECT count(*)::int AS n FROM chain_withdrawals WHERE ref = $1`, [`wallet:${id}`])).rows[0]
          .n,
        1,
      );
    });

    test('two confirms racing make one withdrawal and hold one fee', async () => {
      const c = await loginAs(t, `race-${kind}@example.com`, { USDT: '50' });
      const start = await c.post('/wallet/withdraw', {
        csrf: c.csrf,
        option: 'USDT:BSC',
        address: randomAddress(),
        amount: '10',
      });
      const id = idOf(start.location);
      const code = await latestCode(t, c.email);
      const results = await Promise.all(
        [0, 1, 2].map(() => c.post(`/wallet/withdrawals/${id}/confirm`, { csrf: c.csrf, code })),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), [303, 409, 409]);
      const n = await t.db.query(`SELECT count(*)::int AS n FROM chain_withdrawals WHERE owner_id = $1`, [c.payerId]);
      assert.equal(n.rows[0].n, 1);
      const cw = (await t.app.services.chain.withdrawals.getByRef(`wallet:${id}`))!;
      const fees = await t.app.services.ledger.transfers(t.db, { ids: [`wdfee:${cw.id}`] });
      assert.equal(fees.length, 1);
      assert.equal(fees[0]!.amount, '0.29');
      assert.equal((await balance(c.payerId, 'USDT')).available, '39.71');
    });

    test('a crash after the code is confirmed is resumed by the worker; a balance spent since is refused', async () => {
      const c = await loginAs(t, `resume-${kind}@example.com`, { USDT: '50' });
      const form = { csrf: c.csrf, option: 'USDT:BSC', address: randomAddress() };
      const resumed = idOf((await c.post('/wallet/withdraw', { ...form, amount: '10' })).location);
      const short = idOf((await c.post('/wallet/withdraw', { ...form, amount: '30' })).location);
      const shortCode = await latestCode(t, c.email);
      // What a process dying right after the confirming commit leaves behind: the row at `confirmed`, nothing asked,
      // and the dead runner's lease on it. While the lease runs nobody else asks the chain; once it lapses, the worker
      // does.
      await t.db.query(`UPDATE wallet_withdrawals SET step = 'confirmed', lease_until = $2 WHERE id = $1`, [
        resumed,
        Date.now() + 60_000,
      ]);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await rows(c.payerId))[0].step, 'confirmed', 'the lease holds the step');
      assert.equal(await t.app.services.chain.withdrawals.getByRef(`wallet:${resumed}`), null);
      await t.db.query(`UPDATE wallet_withdrawals SET lease_until = $2 WHERE id = $1`, [resumed, Date.now() - 1]);
      await until('the worker requests it', async () => (await rows(c.payerId))[0].step === 'requested');
      const cw = (await t.app.services.chain.withdrawals.getByRef(`wallet:${resumed}`))!;
      assert.deepEqual([cw.amount, cw.fee, cw.asset, cw.network], ['10', '0.29', 'USDT', 'BSC']);
      assert.equal((await balance(c.payerId, 'USDT')).available, '39.71');

      // The payer's balance shrinks after the form (another payment): the chain refuses, nothing is held.
      await t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `spent:${c.payerId}`,
          debit: { ownerType: 'payer', ownerId: c.payerId, asset: 'USDT' },
          credit: { ownerType: 'platform', ownerId: 'sandbox_mint', asset: 'USDT' },
          amount: '20',
          kind: 'test_spend',
        }),
      );
      const res = await c.post(`/wallet/withdrawals/${short}/confirm`, { csrf: c.csrf, code: shortCode });
      assert.equal(res.status, 303);
      const page = await c.get(`/wallet/withdrawals/${short}`);
      assert.match(page.text, /id="state">Not sent</);
      assert.match(page.text, /id="failure">[^<]*(insufficient|not enough)/i);
      assert.equal((await rows(c.payerId))[1].step, 'refused');
      assert.equal((await balance(c.payerId, 'USDT')).available, '19.71');
      assert.equal(await t.app.services.chain.withdrawals.getByRef(`wallet:${short}`), null);
    });

    test('a code expires after 10 minutes and is void after 5 wrong tries; cancelling before confirming', async () => {
      const c = await loginAs(t, `exp-${kind}@example.com`, { USDT: '50' });
      const form = { csrf: c.csrf, option: 'USDT:ETH', address: randomAddress(), amount: '10' };
      const late = idOf((await c.post('/wallet/withdraw', form)).location);
      const lateCode = await latestCode(t, c.email);
      const tries = idOf((await c.post('/wallet/withdraw', form)).location);
      const triesCode = await latestCode(t, c.email);
      const gone = idOf((await c.post('/wallet/withdraw', form)).location);

      for (let i = 0; i < 5; i++) {
        const r = await c.post(`/wallet/withdrawals/${tries}/confirm`, { csrf: c.csrf, code: 'abc' });
        assert.equal(r.status, 409);
      }
      assert.equal(
        (await c.post(`/wallet/withdrawals/${tries}/confirm`, { csrf: c.csrf, code: triesCode })).status,
        409,
      );
      const cancel = await c.post(`/wallet/withdrawals/${gone}/cancel`, { csrf: c.csrf });
      assert.equal(cancel.status, 303);
      t.clock.advance!(10 * 60_000 + 1);
      const r = await c.post(`/wallet/withdrawals/${late}/confirm`, { csrf: c.csrf, code: lateCode });
      assert.equal(r.status, 409);
      assert.match(r.text, /expired/);
      const steps = Object.fromEntries((await rows(c.payerId)).map((x) => [x.id, x.step]));
      assert.deepEqual(steps, { [late]: 'expired', [tries]: 'expired', [gone]: 'cancelled' });
      assert.equal((await balance(c.payerId, 'USDT')).available, '50', 'nothing held or taken');
      assert.equal(
        (await t.db.query(`SELECT count(*)::int AS n FROM chain_withdrawals WHERE owner_id = $1`, [c.payerId])).rows[0]
          .n,
        0,
      );
    });

    test('another payer cannot see, confirm or cancel a withdrawal', async () => {
      const a = await loginAs(t, `owner-${kind}@example.com`, { USDT: '50' });
      const b = await loginAs(t, `other-${kind}@example.com`, { USDT: '50' });
      const id = idOf(
        (await a.post('/wallet/withdraw', { csrf: a.csrf, option: 'USDT:ETH', address: randomAddress(), amount: '10' }))
          .location,
      );
      const code = await latestCode(t, a.email);
      const row = (await rows(a.payerId))[0];
      assert.equal((await b.get(`/wallet/withdrawals/${id}`)).status, 404);
      assert.equal((await b.post(`/wallet/withdrawals/${id}/confirm`, { csrf: b.csrf, code })).status, 404);
      assert.equal((await b.post(`/wallet/withdrawals/${id}/cancel`, { csrf: b.csrf })).status, 404);
      assert.equal((await b.post(`/wallet/withdrawals/${id}/confirm`, { csrf: a.csrf, code })).status, 403);
      assert.deepEqual((await rows(a.payerId))[0], row);
      for (const p of [a, b]) assert.equal((await balance(p.payerId, 'USDT')).available, '50');
      assert.equal((await rows(a.payerId))[0].step, 'code_sent');
    });
  });

  describe(`wallet withdrawal: every form at every step (${kind})`, () => {
    // No workers here: a row put at a step by hand stays there, so only the forms can move it.
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ kind });
    });
    after(async () => {
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    const STEPS = ['code_sent', 'confirmed', 'requested', 'completed', 'refused', 'cancelled', 'expired'];
    test('confirm (right or wrong code) and cancel act only at code_sent; elsewhere they change nothing', async () => {
      const c = await loginAs(t, `table-${kind}@example.com`, { USDT: '1000' });
      // A withdrawal through the form per code_sent cell (its code is bound to its id); the other cells get a copy of
      // the first, put at the cell's step, where no code may act.
      const startOne = async () => {
        const start = await c.post('/wallet/withdraw', {
          csrf: c.csrf,
          option: 'USDT:TRX',
          address: 'TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7',
          amount: '10',
        });
        assert.equal(start.status, 303, start.text.slice(0, 300));
        return { id: idOf(start.location), code: await latestCode(t, c.email) };
      };
      const original = await startOne();
      let n = 0;
      for (const step of STEPS) {
        for (const action of ['confirm', 'wrong code', 'cancel'] as const) {
          let id: string;
          let code = original.code;
          if (step === 'code_sent') ({ id, code } = await startOne());
          else {
            id = `${original.id}${++n}`.slice(-19);
            await t.db.query(
              `INSERT INTO wallet_withdrawals SELECT $2, payer_id, asset, network, address, memo, amount, fee, step,
                 code_hash, code_expires_at, code_attempts, chain_withdrawal_id, failure, created_at, updated_at
               FROM wallet_withdrawals WHERE id = $1`,
              [original.id, id],
            );
            await t.db.query(`UPDATE wallet_withdrawals SET step = $2 WHERE id = $1`, [id, step]);
          }
          const before = await snapshot(t.db);
          const row = (await t.db.query(`SELECT * FROM wallet_withdrawals WHERE id = $1`, [id])).rows[0];
          const res =
            action === 'cancel'
              ? await c.post(`/wallet/withdrawals/${id}/cancel`, { csrf: c.csrf })
              : await c.post(`/wallet/withdrawals/${id}/confirm`, {
                  csrf: c.csrf,
                  code: action === 'confirm' ? code : code === '123456' ? '654321' : '123456',
                });
          const after = (await t.db.query(`SELECT * FROM wallet_withdrawals WHERE id = $1`, [id])).rows[0];
          if (step !== 'code_sent') {
            assert.equal(res.status, 409, `${action} at ${step}`);
            assert.deepEqual(after, row, `${action} at ${step} leaves the row`);
            assert.deepEqual(await snapshot(t.db), before, `${action} at ${step} changes nothing`);
          } else if (action === 'wrong code') {
            assert.equal(res.status, 409);
            assert.deepEqual([after.step, after.code_attempts], ['code_sent', row.code_attempts + 1]);
          } else {
            assert.equal(res.status, 303, `${action} at ${step}`);
            assert.equal(after.step, action === 'confirm' ? 'requested' : 'cancelled');
          }
        }
      }
      // A code confirms only the withdrawal it was sent for: the same digest copied onto another request is wrong.
      const other = await startOne();
      const copy = `${other.id}9`.slice(-19);
      await t.db.query(
        `INSERT INTO wallet_withdrawals SELECT $2, payer_id, asset, network, address, memo, amount, fee, step,
           code_hash, code_expires_at, code_attempts, chain_withdrawal_id, failure, created_at, updated_at
         FROM wallet_withdrawals WHERE id = $1`,
        [other.id, copy],
      );
      const stolen = await c.post(`/wallet/withdrawals/${copy}/confirm`, { csrf: c.csrf, code: other.code });
      assert.equal(stolen.status, 409);
      assert.equal(
        (await t.db.query(`SELECT step FROM wallet_withdrawals WHERE id = $1`, [copy])).rows[0].step,
        'code_sent',
      );
    });
  });
}
