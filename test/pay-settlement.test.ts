import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { erc20Abi, type Address } from 'viem';
import type { SettlementStatus } from '../src/pay/settlement/service.ts';
import { randomHex } from '../src/platform/crypto.ts';
import { platformAccount } from '../src/platform/ledger/service.ts';
import { randomAddress } from './chain-fixture.ts';
import { assertAuditOk, createMerchant, DB_KINDS, startTestApp, type TestApp } from './helpers.ts';

/**
 * Merchant settlement (issue #16) through the admin API and the service the dashboard uses, on the embedded anvil:
 * whitelisted addresses (e-mail code, cooling-off on the sandbox clock), withdrawals held and then posted or released
 * by the chain's outcome, replays at every state, a race for one balance, and automatic settlement (daily, threshold).
 * Workers are off: the test drives the settlement and chain machines itself, so every step is deterministic.
 */
for (const kind of DB_KINDS) {
  describe(`merchant settlement (${kind})`, () => {
    let t: TestApp;
    let merchantId: string;
    const email = `owner-${kind}@settle.example`;
    const s = () => t.app.services.settlement;
    const chain = () => t.app.services.chain;
    const base = () => `/admin/v1/merchants/${merchantId}/settlement`;

    const fund = async (asset: string, amount: string, id = merchantId) =>
      t.db.tx((q) =>
        t.app.services.ledger.transfer(q, {
          id: `test-fund:${id}:${asset}:${randomHex(4)}`,
          debit: platformAccount('sandbox_mint', asset),
          credit: { ownerType: 'merchant', ownerId: id, asset },
          amount,
          kind: 'test_funding',
        }),
      );
    const balance = (asset: string, id = merchantId) =>
      t.app.services.ledger.balance(t.db, { ownerType: 'merchant', ownerId: id, asset });
    const userId = async () =>
      (await t.db.query(`SELECT id FROM merchant_users WHERE merchant_id = $1`, [merchantId])).rows[0].id as string;
    const lastCode = async () => /(\d{6})/.exec((await t.app.services.mailer.list(email))[0]!.text)![1]!;
    /** An address active at once (the operator skips the cooling-off). */
    const activeAddress = async (asset: string, network: string, address: string = randomAddress()) => {
      const r = await t.admin('POST', `${base()}/addresses`, {
        asset,
        network,
        address,
        label: `${asset} ${randomHex(2)}`,
        coolingOff: false,
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.id as string;
    };
    /** Drives a settlement's chain withdrawal to its end (mining the confirmations) and then the settlement. */
    const complete = async (settlementId: string) => {
      const st = (await s().get(settlementId))!;
      await chain().withdrawals.process(st.withdrawalId!);
      const eth = await chain().evm(st.network);
      await eth.client.request({ method: 'anvil_mine' as any, params: ['0x10'] as any });
      await chain().withdrawals.process(st.withdrawalId!);
      await s().runOnce();
      return (await s().get(settlementId))!;
    };

    before(async () => {
      t = await startTestApp({ kind });
      merchantId = (await createMerchant(t, { name: `Settler ${kind}`, email })).merchantId;
    });
    after(async () => {
      if (t) await assertAuditOk(t);
      await t?.close();
    });

    test('admin API: every field rule of the address, withdrawal and auto-settlement bodies', async () => {
      const good = { asset: 'USDT', network: 'ETH', address: randomAddress(), label: 'Treasury' };
      const addressCases: [Record<string, unknown>, number, string][] = [
        [{ ...good, asset: undefined }, 400, 'INVALID_REQUEST'],
        [{ ...good, asset: 'usdt' }, 400, 'INVALID_REQUEST'],
        [{ ...good, network: 'E' }, 400, 'INVALID_REQUEST'],
        [{ ...good, address: '' }, 400, 'INVALID_REQUEST'],
        [{ ...good, address: 'x'.repeat(129) }, 400, 'INVALID_REQUEST'],
        [{ ...good, memo: 'm'.repeat(65) }, 400, 'INVALID_REQUEST'],
        [{ ...good, label: '' }, 400, 'INVALID_REQUEST'],
        [{ ...good, label: 'l'.repeat(65) }, 400, 'INVALID_REQUEST'],
        [{ ...good, coolingOff: 'no' }, 400, 'INVALID_REQUEST'],
        [{ ...good, extra: 1 }, 400, 'INVALID_REQUEST'],
        [{ ...good, asset: 'DOGE' }, 400, 'UNSUPPORTED_NETWORK'],
        [{ ...good, network: 'TRX', asset: 'ETH' }, 400, 'UNSUPPORTED_NETWORK'],
        [{ ...good, address: '0x1234' }, 400, 'INVALID_ADDRESS'],
        [{ ...good, address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t' }, 400, 'WRONG_NETWORK'],
        [{ ...good, memo: '123' }, 400, 'INVALID_MEMO'],
        [{ ...good, label: '   ' }, 400, 'INVALID_LABEL'],
      ];
      for (const [body, status, code] of addressCases) {
        const r = await t.admin('POST', `${base()}/addresses`, body);
        assert.equal(r.status, status, JSON.stringify({ body, r: r.json }));
        assert.equal(r.json.error.code, code, JSON.stringify(body));
      }
      assert.equal((await t.admin('POST', `/admin/v1/merchants/999/settlement/addresses`, good)).status, 404);
      const noToken = await fetch(`${t.baseUrl}${base()}/addresses`);
      assert.equal(noToken.status, 401);

      const made = await t.admin('POST', `${base()}/addresses`, good);
      assert.equal(made.status, 201);
      assert.equal(made.json.status, 'COOLING_OFF', 'the operator gets the same cooling-off unless it says otherwise');
      assert.equal(made.json.activeAt, t.clock.now() + 24 * 3600_000);
      const twice = await t.admin('POST', `${base()}/addresses`, good);
      assert.deepEqual([twice.status, twice.json.error.code], [409, 'ADDRESS_EXISTS']);

      const w = { addressId: made.json.id, amount: '20', requestKey: 'k-1' };
      const withdrawalCases: [Record<string, unknown>, number, string][] = [
        [{ ...w, addressId: 'abc' }, 400, 'INVALID_REQUEST'],
        [{ ...w, amount: 20 }, 400, 'INVALID_REQUEST'],
        [{ ...w, amount: '-1' }, 400, 'INVALID_REQUEST'],
        [{ ...w, amount: '1e3' }, 400, 'INVALID_REQUEST'],
        [{ ...w, requestKey: '' }, 400, 'INVALID_REQUEST'],
        [{ ...w, requestKey: 'a b' }, 400, 'INVALID_REQUEST'],
        [{ ...w, requestKey: 'k'.repeat(65) }, 400, 'INVALID_REQUEST'],
        [{ ...w, addressId: '123' }, 404, 'ADDRESS_NOT_FOUND'],
        [w, 409, 'ADDRESS_NOT_ACTIVE'],
      ];
      for (const [body, status, code] of withdrawalCases) {
        const r = await t.admin('POST', `${base()}/withdrawals`, body);
        assert.equal(r.status, status, JSON.stringify({ body, r: r.json }));
        assert.equal(r.json.error.code, code, JSON.stringify(body));
      }
      const active = await activeAddress('USDT', 'ETH');
      await fund('USDT', '30');
      const amountCases: [string, number, string][] = [
        ['0', 400, 'INVALID_AMOUNT'],
        ['5', 400, 'AMOUNT_OUT_OF_LIMIT'],
        ['10.5', 400, 'AMOUNT_OUT_OF_LIMIT'],
        ['11.0000001', 400, 'INVALID_AMOUNT'],
        ['31', 409, 'INSUFFICIENT_FUNDS'],
      ];
      for (const [amount, status, code] of amountCases) {
        const r = await t.admin('POST', `${base()}/withdrawals`, { addressId: active, amount, requestKey: 'k-2' });
        assert.deepEqual([r.status, r.json.error.code], [status, code], amount);
      }
      assert.equal((await balance('USDT')).held, '0', 'no refused withdrawal held anything');

      const autoCases: [Record<string, unknown>, number, string][] = [
        [{ addressId: active, mode: 'WEEKLY', enabled: true }, 400, 'INVALID_REQUEST'],
        [{ addressId: active, mode: 'DAILY' }, 400, 'INVALID_REQUEST'],
        [{ addressId: active, mode: 'THRESHOLD', threshold: 'x', enabled: true }, 400, 'INVALID_REQUEST'],
        [{ addressId: active, mode: 'THRESHOLD', enabled: true }, 400, 'INVALID_THRESHOLD'],
        [{ addressId: active, mode: 'THRESHOLD', threshold: '0', enabled: true }, 400, 'INVALID_THRESHOLD'],
        [{ addressId: active, mode: 'THRESHOLD', threshold: '10.99', enabled: true }, 400, 'INVALID_THRESHOLD'],
        [{ addressId: '42', mode: 'DAILY', enabled: true }, 404, 'ADDRESS_NOT_FOUND'],
        [{ addressId: made.json.id, mode: 'DAILY', enabled: true }, 409, 'ADDRESS_NOT_ACTIVE'],
      ];
      for (const [body, status, code] of autoCases) {
        const r = await t.admin('PUT', `${base()}/auto`, body);
        assert.equal(r.status, status, JSON.stringify({ body, r: r.json }));
        assert.equal(r.json.error.code, code, JSON.stringify(body));
      }
      assert.deepEqual((await t.admin('GET', `${base()}/auto`)).json.auto, []);
      const list = await t.admin('GET', `${base()}/addresses`);
      assert.deepEqual(
        list.json.addresses.map((a: any) => a.status),
        ['COOLING_OFF', 'ACTIVE'],
      );
      for (const id of [made.json.id, active])
        assert.equal((await t.admin('DELETE', `${base()}/addresses/${id}`)).status, 200);
      assert.equal((await t.admin('DELETE', `${base()}/addresses/${active}`)).json.error.code, 'ADDRESS_NOT_FOUND');
    });

    test('e-mail code: hashed at rest; wrong, expired, replayed and exhausted codes refused; then cooling-off on the sandbox clock', async () => {
      const user = { kind: 'dashboard' as const, userId: await userId(), email };
      const add = async () => {
        const r = await s().addAddress(
          merchantId,
          { asset: 'USDT', network: 'BSC', address: randomAddress(), label: 'Cold wallet' },
          user,
        );
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.value.status, 'PENDING_CODE');
        return { id: r.value.id, code: await lastCode() };
      };
      const a = await add();
      const stored = (await t.db.query(`SELECT code_hash FROM pay_settlement_addresses WHERE id = $1`, [a.id])).rows[0];
      assert.notEqual(stored.code_hash, a.code);
      assert.ok(!String(stored.code_hash).includes(a.code), 'only a hash of the code is stored');
      const wrong = a.code === '000000' ? '000001' : '000000';
      const r1 = await s().confirmAddress(merchantId, a.id, wrong);
      assert.equal(!r1.ok && r1.code, 'WRONG_CODE');
      assert.equal((await s().confirmAddress('1', a.id, a.code)).ok, false, "another merchant's address is not found");
      const good = await s().confirmAddress(merchantId, a.id, a.code);
      assert.ok(good.ok);
      assert.equal(good.value.status, 'COOLING_OFF');
      const replay = await s().confirmAddress(merchantId, a.id, a.code);
      assert.equal(!replay.ok && replay.code, 'NOT_PENDING', 'a replayed code changes nothing');
      assert.equal((await s().getAddress(merchantId, a.id))!.activeAt, good.value.activeAt);

      const b = await add();
      t.clock.advance!(10 * 60_000);
      const expired = await s().confirmAddress(merchantId, b.id, b.code);
      assert.equal(!expired.ok && expired.code, 'CODE_EXPIRED');
      assert.equal((await s().getAddress(merchantId, b.id))!.status, 'REJECTED');
      // A code that lapsed unused does not keep the same address from being added again.
      const lapsed = await add();
      t.clock.advance!(10 * 60_000);
      const lapsedAddress = (await s().getAddress(merchantId, lapsed.id))!.address;
      const readd = await s().addAddress(
        merchantId,
        { asset: 'USDT', network: 'BSC', address: lapsedAddress, label: 'again' },
        user,
      );
      assert.ok(readd.ok, JSON.stringify(readd));
      assert.equal((await s().getAddress(merchantId, lapsed.id))!.status, 'REJECTED');

      const c = await add();
      const bad = c.code === '111111' ? '222222' : '111111';
      for (let i = 0; i < 4; i++) {
        const r = await s().confirmAddress(merchantId, c.id, bad);
        assert.equal(!r.ok && r.code, 'WRONG_CODE');
      }
      const fifth = await s().confirmAddress(merchantId, c.id, bad);
      assert.equal(!fifth.ok && fifth.code, 'TOO_MANY_ATTEMPTS');
      const late = await s().confirmAddress(merchantId, c.id, c.code);
      assert.equal(!late.ok && late.code, 'NOT_PENDING', 'the right code after the attempts are used is refused');

      // Cooling-off: usable only once the sandbox clock has passed active_at.
      await fund('USDT', '50');
      const early = await s().withdraw(merchantId, {
        addressId: a.id,
        amount: '20',
        requestKey: `early-${kind}`,
        source: 'DASHBOARD',
      });
      assert.equal(!early.ok && early.code, 'ADDRESS_NOT_ACTIVE');
      const adv = await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 24 * 3600_000 - 20 * 60_000 - 1000 });
      assert.equal(adv.status, 200);
      assert.equal((await s().getAddress(merchantId, a.id))!.status, 'COOLING_OFF', 'one second before the end');
      await t.admin('POST', '/sandbox/v1/clock/advance', { ms: 1000 });
      assert.equal((await s().getAddress(merchantId, a.id))!.status, 'ACTIVE');
      assert.equal((await s().removeAddress(merchantId, a.id)).ok, true, 'removing is immediate');
      const gone = await s().withdraw(merchantId, {
        addressId: a.id,
        amount: '20',
        requestKey: `gone-${kind}`,
        source: 'DASHBOARD',
      });
      assert.equal(!gone.ok && gone.code, 'ADDRESS_NOT_ACTIVE');
      assert.equal((await balance('USDT')).held, '0');
    });

    test('a withdrawal on anvil: amount and fee held, posted on completion; the address receives it once', async () => {
      const before = await balance('USDT');
      await fund('USDT', '100');
      const to = randomAddress();
      const addressId = await activeAddress('USDT', 'ETH', to);
      const body = { addressId, amount: '60', requestKey: `once-${kind}` };
      const r = await t.admin('POST', `${base()}/withdrawals`, body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.status, 'WITHDRAWING');
      assert.deepEqual([r.json.amount, r.json.fee, r.json.receive], ['60', '1', '59']);
      assert.equal((await balance('USDT')).held, '60');
      const again = await t.admin('POST', `${base()}/withdrawals`, body);
      assert.equal(again.json.id, r.json.id, 'a replayed request answers with the same settlement');
      const other = await t.admin('POST', `${base()}/withdrawals`, { ...body, amount: '61' });
      assert.equal(other.json.error.code, 'REQUEST_KEY_REUSED');
      const wd = r.json.withdrawalId as string;
      await chain().withdrawals.process(wd);
      await (await chain().evm('ETH')).client.request({ method: 'anvil_mine' as any, params: ['0x10'] as any });
      await chain().withdrawals.process(wd);
      assert.equal((await s().get(r.json.id))!.status, 'WITHDRAWING', 'the chain is done; the settlement not yet');
      // The chain announced the outcome on the settlement's own topic (not the buy flow's), in the completing
      // transaction; its handler moves the settlement at once.
      const events = (await t.db.query(`SELECT * FROM outbox WHERE payload->>'withdrawalId' = $1 ORDER BY id`, [wd]))
        .rows;
      assert.deepEqual(
        events.map((e) => [e.topic, e.payload.ref, e.payload.status]),
        [['pay.settlement.withdrawal-settled', `settle:${r.json.id}`, 'completed']],
      );
      const handler = t.app.services.outboxHandlers['pay.settlement.withdrawal-settled']!;
      assert.deepEqual(await handler(events[0]), { status: 'done' });
      const done = (await s().get(r.json.id))!;
      assert.equal(done.status, 'COMPLETED');
      const shown = (await t.admin('GET', `/admin/v1/settlements/${r.json.id}`)).json;
      assert.equal(shown.chain.status, 'completed');
      assert.ok(shown.chain.confirmations >= 12);
      assert.match(shown.chain.txHash, /^0x[0-9a-f]{64}$/);
      const eth = await chain().evm('ETH');
      const token = (await t.db.query(`SELECT address FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDT'`))
        .rows[0].address as Address;
      const onChain = await eth.client.readContract({
        address: token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [to],
      });
      assert.equal(onChain, 59_000_000n, 'the address received the amount less the fee, once');
      const after = await balance('USDT');
      assert.equal(after.held, '0');
      assert.equal(after.posted, (Number(before.posted) + 40).toString());
      await s().runOnce();
      assert.equal((await chain().withdrawals.getByRef(`settle:${r.json.id}`))!.id, done.withdrawalId);
      await assertAuditOk(t);
    });

    test('a withdrawal the chain fails: cancelled at the chain, hold released, settlement FAILED', async () => {
      await fund('ETH', '1');
      // Sending ETH to the token contract (no receive function) reverts at gas estimation: the chain fails it.
      const token = (await t.db.query(`SELECT address FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDT'`))
        .rows[0].address as string;
      const addressId = await activeAddress('ETH', 'ETH', token);
      const r = await s().withdraw(merchantId, {
        addressId,
        amount: '0.5',
        requestKey: `fail-${kind}`,
        source: 'ADMIN',
      });
      assert.ok(r.ok);
      assert.equal((await balance('ETH')).held, '0.5');
      await chain().withdrawals.process(r.value.withdrawalId!);
      assert.equal((await chain().withdrawals.get(r.value.withdrawalId!))!.status, 'failed');
      await s().runOnce();
      const failed = (await s().get(r.value.id))!;
      assert.equal(failed.status, 'FAILED');
      assert.match(failed.failure!, /GAS_ESTIMATION_FAILED/);
      assert.equal((await chain().withdrawals.get(r.value.withdrawalId!))!.status, 'cancelled');
      assert.deepEqual(await balance('ETH'), { asset: 'ETH', posted: '1', held: '0', available: '1' });
      await assertAuditOk(t);
    });

    test('a settlement whose step died after the chain took its withdrawal is followed, never cancelled', async () => {
      await fund('USDC', '100');
      const addressId = await activeAddress('USDC', 'ETH');
      const r = await s().withdraw(merchantId, {
        addressId,
        amount: '30',
        requestKey: `died-${kind}`,
        source: 'ADMIN',
      });
      assert.ok(r.ok);
      // The state a crash leaves between the chain's commit (amount held) and the step's own transition.
      await t.db.query(
        `UPDATE pay_settlements SET status = 'REQUESTED', withdrawal_id = NULL, lease_until = NULL WHERE id = $1`,
        [r.value.id],
      );
      const cancel = await t.admin('POST', `/admin/v1/settlements/${r.value.id}/cancel`);
      assert.deepEqual([cancel.status, cancel.json.error.code], [409, 'NOT_CANCELLABLE']);
      const followed = (await s().get(r.value.id))!;
      assert.equal(followed.status, 'WITHDRAWING');
      assert.equal(followed.withdrawalId, r.value.withdrawalId);
      assert.equal((await balance('USDC')).held, '30', 'the money stays held for the withdrawal that will go out');
    });

    test('every action at every state: a replayed confirm never makes a second hold, cancel applies only before the chain', async () => {
      await fund('USDC', '500');
      const addressId = await activeAddress('USDC', 'ETH');
      const make = async (key: string) => {
        const r = await s().withdraw(merchantId, { addressId, amount: '20', requestKey: key, source: 'DASHBOARD' });
        assert.ok(r.ok);
        return r.value;
      };
      /** A settlement recorded but not yet sent to the chain (the confirm request died before the chain call). */
      const requested = async (key: string) => {
        const id = t.app.services.ids.next().toString();
        await t.db.query(
          `INSERT INTO pay_settlements (id, merchant_id, request_key, address_id, asset, network, amount, fee, source,
            status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'USDC', 'ETH', '20', '1', 'DASHBOARD', 'REQUESTED',
            $5, $5)`,
          [id, merchantId, key, addressId, t.clock.now()],
        );
        return (await s().get(id))!;
      };
      const states: Record<SettlementStatus, () => Promise<string>> = {
        REQUESTED: async () => (await requested(`st-req-${kind}`)).id,
        WITHDRAWING: async () => (await make(`st-wd-${kind}`)).id,
        COMPLETED: async () => (await complete((await make(`st-done-${kind}`)).id)).id,
        CANCELLED: async () => {
          const x = await requested(`st-can-${kind}`);
          assert.ok((await s().cancel(x.id)).ok);
          return x.id;
        },
        REJECTED: async () => {
          const x = await requested(`st-rej-${kind}`);
          await t.db.query(`UPDATE pay_settlements SET amount = '100000' WHERE id = $1`, [x.id]);
          return (await s().advance(x.id))!.id;
        },
        FAILED: async () => {
          const token = (
            await t.db.query(`SELECT address FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDC'`)
          ).rows[0].address as string;
          await fund('ETH', '0.1');
          const a = await activeAddress('ETH', 'ETH', token);
          const r = await s().withdraw(merchantId, {
            addressId: a,
            amount: '0.05',
            requestKey: `st-fail-${kind}`,
            source: 'ADMIN',
          });
          assert.ok(r.ok);
          await chain().withdrawals.process(r.value.withdrawalId!);
          await s().runOnce();
          return r.value.id;
        },
      };
      const holds = async () =>
        (await t.db.query(`SELECT count(*)::int AS n FROM ledger_transfers WHERE kind = 'withdrawal'`)).rows[0].n;
      for (const [state, makeIt] of Object.entries(states) as [SettlementStatus, () => Promise<string>][]) {
        const id = await makeIt();
        const at = (await s().get(id))!;
        assert.equal(at.status, state, `set-up of ${state}`);
        const before = { holds: await holds(), usdc: await balance('USDC'), eth: await balance('ETH') };
        // Replay the confirm (the same request key, as a resent form or API call does).
        const replay = await t.admin('POST', `${base()}/withdrawals`, {
          addressId: at.addressId,
          amount: at.amount,
          requestKey: at.requestKey,
        });
        assert.equal(replay.status, 200, `${state}: ${JSON.stringify(replay.json)}`);
        assert.equal(replay.json.id, id, `${state}: the same settlement`);
        const cancel = await t.admin('POST', `/admin/v1/settlements/${id}/cancel`);
        if (state === 'REQUESTED') assert.equal(cancel.json.status, 'CANCELLED');
        else assert.deepEqual([cancel.status, cancel.json.error.code], [409, 'NOT_CANCELLABLE'], state);
        assert.equal(await holds(), before.holds, `${state}: no new hold`);
        assert.deepEqual(await balance('USDC'), before.usdc, `${state}: USDC unchanged`);
        assert.deepEqual(await balance('ETH'), before.eth, `${state}: ETH unchanged`);
        const after = (await s().get(id))!;
        assert.equal(after.status, state === 'REQUESTED' ? 'CANCELLED' : state, `${state}: status`);
      }
      await assertAuditOk(t);
    });

    test('every address action at every address state: only the state that allows it changes anything', async () => {
      const user = { kind: 'dashboard' as const, userId: await userId(), email };
      type State = 'PENDING_CODE' | 'COOLING_OFF' | 'ACTIVE' | 'REMOVED' | 'REJECTED';
      const pending = async () => {
        const r = await s().addAddress(
          merchantId,
          { asset: 'USDT', network: 'BSC', address: randomAddress(), label: 'table' },
          user,
        );
        assert.ok(r.ok);
        return { id: r.value.id, code: await lastCode() };
      };
      const make: Record<State, () => Promise<{ id: string; code: string }>> = {
        PENDING_CODE: pending,
        COOLING_OFF: async () => {
          const a = await pending();
          assert.ok((await s().confirmAddress(merchantId, a.id, a.code)).ok);
          return a;
        },
        ACTIVE: async () => ({ id: await activeAddress('USDT', 'BSC'), code: '123456' }),
        REMOVED: async () => {
          const id = await activeAddress('USDT', 'BSC');
          assert.ok((await s().removeAddress(merchantId, id)).ok);
          return { id, code: '123456' };
        },
        REJECTED: async () => {
          const a = await pending();
          const bad = a.code === '999999' ? '999998' : '999999';
          for (let i = 0; i < 5; i++) await s().confirmAddress(merchantId, a.id, bad);
          return a;
        },
      };
      let key = 0;
      const actions: Record<string, (a: { id: string; code: string }) => Promise<string>> = {
        confirm: async (a) => {
          const r = await s().confirmAddress(merchantId, a.id, a.code);
          return r.ok ? 'ok' : r.code;
        },
        remove: async (a) => {
          const r = await s().removeAddress(merchantId, a.id);
          return r.ok ? 'ok' : r.code;
        },
        withdraw: async (a) => {
          const r = await s().withdraw(merchantId, {
            addressId: a.id,
            amount: '20',
            requestKey: `table-${kind}-${++key}`,
            source: 'DASHBOARD',
          });
          return r.ok ? 'ok' : r.code;
        },
        auto: async (a) => {
          const r = await s().setAuto(merchantId, { addressId: a.id, mode: 'DAILY', enabled: true });
          return r.ok ? 'ok' : r.code;
        },
      };
      const expected: Record<State, Record<string, [string, State]>> = {
        PENDING_CODE: {
          confirm: ['ok', 'COOLING_OFF'],
          remove: ['ok', 'REMOVED'],
          withdraw: ['ADDRESS_NOT_ACTIVE', 'PENDING_CODE'],
          auto: ['ADDRESS_NOT_ACTIVE', 'PENDING_CODE'],
        },
        COOLING_OFF: {
          confirm: ['NOT_PENDING', 'COOLING_OFF'],
          remove: ['ok', 'REMOVED'],
          withdraw: ['ADDRESS_NOT_ACTIVE', 'COOLING_OFF'],
          auto: ['ADDRESS_NOT_ACTIVE', 'COOLING_OFF'],
        },
        ACTIVE: {
          confirm: ['NOT_PENDING', 'ACTIVE'],
          remove: ['ok', 'REMOVED'],
          withdraw: ['ok', 'ACTIVE'],
          auto: ['ok', 'ACTIVE'],
        },
        REMOVED: {
          confirm: ['NOT_PENDING', 'REMOVED'],
          remove: ['ADDRESS_NOT_FOUND', 'REMOVED'],
          withdraw: ['ADDRESS_NOT_ACTIVE', 'REMOVED'],
          auto: ['ADDRESS_NOT_FOUND', 'REMOVED'],
        },
        REJECTED: {
          confirm: ['NOT_PENDING', 'REJECTED'],
          remove: ['ADDRESS_NOT_FOUND', 'REJECTED'],
          withdraw: ['ADDRESS_NOT_ACTIVE', 'REJECTED'],
          auto: ['ADDRESS_NOT_FOUND', 'REJECTED'],
        },
      };
      await fund('USDT', '20');
      for (const [state, row] of Object.entries(expected) as [State, Record<string, [string, State]>][]) {
        for (const [action, [outcome, after]] of Object.entries(row)) {
          const a = await make[state]();
          assert.equal((await s().getAddress(merchantId, a.id))!.status, state, `set-up ${state}`);
          const held = (await balance('USDT')).held;
          assert.equal(await actions[action]!(a), outcome, `${action} at ${state}`);
          assert.equal((await s().getAddress(merchantId, a.id))!.status, after, `${action} at ${state}: status`);
          const heldNow = (await balance('USDT')).held;
          if (action === 'withdraw' && outcome === 'ok')
            assert.notEqual(heldNow, held, 'the one allowed withdrawal holds');
          else assert.equal(heldNow, held, `${action} at ${state}: nothing held`);
        }
      }
      // The automatic setting made on the ACTIVE address is switched off again, so later tests run without it.
      for (const x of await s().listAuto(merchantId))
        await s().setAuto(merchantId, { addressId: x.addressId, mode: 'DAILY', enabled: false });
    });

    test('two withdrawals racing for one balance: exactly one gets the hold, the other is rejected with nothing held', async () => {
      const other = (await createMerchant(t, { name: `Racer ${kind}` })).merchantId;
      const addr = await t.admin('POST', `/admin/v1/merchants/${other}/settlement/addresses`, {
        asset: 'USDT',
        network: 'BSC',
        address: randomAddress(),
        label: 'race',
        coolingOff: false,
      });
      await fund('USDT', '100', other);
      // Both confirms passed the balance check of the form (80 of 100 each) and were recorded; the chain decides.
      const ids = [];
      for (const key of ['race-a', 'race-b']) {
        const id = t.app.services.ids.next().toString();
        await t.db.query(
          `INSERT INTO pay_settlements (id, merchant_id, request_key, address_id, asset, network, amount, fee, source,
            status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'USDT', 'BSC', '80', '0.29', 'DASHBOARD',
            'REQUESTED', $5, $5)`,
          [id, other, key, addr.json.id, t.clock.now()],
        );
        ids.push(id);
      }
      await Promise.all([...ids.map((id) => s().advance(id)), s().runOnce(), ...ids.map((id) => s().advance(id))]);
      const out = await Promise.all(ids.map(async (id) => (await s().get(id))!.status));
      assert.deepEqual([...out].sort(), ['REJECTED', 'WITHDRAWING'], JSON.stringify(out));
      assert.deepEqual(await balance('USDT', other), { asset: 'USDT', posted: '100', held: '80', available: '20' });
      const wds = await t.db.query(`SELECT count(*)::int AS n FROM chain_withdrawals WHERE owner_id = $1`, [other]);
      assert.equal(wds.rows[0].n, 1, 'one chain withdrawal');
      await complete(ids[out.indexOf('WITHDRAWING')]!);
      assert.deepEqual(await balance('USDT', other), { asset: 'USDT', posted: '20', held: '0', available: '20' });
    });

    test('automatic settlement: daily at midnight on the business clock, and above a threshold, each run once', async () => {
      const m = (await createMerchant(t, { name: `Auto ${kind}` })).merchantId;
      const add = async (asset: string, network: string) =>
        (
          await t.admin('POST', `/admin/v1/merchants/${m}/settlement/addresses`, {
            asset,
            network,
            address: randomAddress(),
            label: `${asset} auto`,
            coolingOff: false,
          })
        ).json.id as string;
      const daily = await add('USDT', 'ETH');
      const threshold = await add('USDC', 'BSC');
      await fund('USDT', '75.5', m);
      await fund('USDC', '40', m);
      const put = (body: Record<string, unknown>) => t.admin('PUT', `/admin/v1/merchants/${m}/settlement/auto`, body);
      const d = await put({ addressId: daily, mode: 'DAILY', enabled: true });
      assert.equal(d.status, 200, JSON.stringify(d.json));
      const th = await put({ addressId: threshold, mode: 'THRESHOLD', threshold: '50', enabled: true });
      assert.equal(th.status, 200);
      const settlementsOf = async () =>
        (await t.admin('GET', `/admin/v1/merchants/${m}/settlement/withdrawals`)).json.settlements as any[];

      await s().runOnce();
      assert.equal((await settlementsOf()).length, 0, 'not due yet, and 40 USDC is under the threshold');
      await t.admin('POST', '/sandbox/v1/clock/advance', { ms: d.json.nextDueAt - t.clock.now() });
      // A suspended merchant's money is frozen: the due run waits until it is reactivated.
      assert.equal((await t.admin('POST', `/admin/v1/merchants/${m}/suspend`)).status, 200);
      await s().runOnce();
      assert.equal((await settlementsOf()).length, 0, 'nothing goes out while suspended');
      assert.equal((await t.admin('POST', `/admin/v1/merchants/${m}/reactivate`)).status, 200);
      await s().runOnce();
      await s().runOnce();
      let list = await settlementsOf();
      assert.equal(list.length, 1, 'the daily run happened once');
      assert.deepEqual(
        [list[0].source, list[0].asset, list[0].amount, list[0].receive],
        ['AUTO_DAILY', 'USDT', '75.5', '74.5'],
      );
      assert.equal((await balance('USDT', m)).available, '0');

      await fund('USDC', '30', m);
      await Promise.all([s().runOnce(), s().runOnce()]);
      await s().runOnce();
      list = await settlementsOf();
      assert.equal(list.length, 2, 'one threshold run while one is open');
      const auto = list.find((x) => x.source === 'AUTO_THRESHOLD');
      assert.deepEqual([auto.asset, auto.network, auto.amount, auto.status], ['USDC', 'BSC', '70', 'WITHDRAWING']);
      assert.equal((await balance('USDC', m)).held, '70');
      const next = (await t.admin('GET', `/admin/v1/merchants/${m}/settlement/auto`)).json.auto;
      assert.deepEqual(
        next.map((x: any) => [x.mode, x.runs]),
        [
          ['THRESHOLD', 1],
          ['DAILY', 1],
        ],
      );
      for (const x of list) assert.equal((await complete(x.id)).status, 'COMPLETED');
      await assertAuditOk(t);
    });
  });
}
