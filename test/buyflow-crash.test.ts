import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createPublicClient, erc20Abi, http, type Address } from 'viem';
import { buildApp } from '../src/app.ts';
import { startAnvil, type AnvilHandle } from '../src/chain/anvil.ts';
import { networkInfo } from '../src/chain/networks.ts';
import { loadConfig } from '../src/config.ts';
import type { FaultPoint } from '../src/connect/buyflow/purchase.ts';
import { randomAlnum, randomHex } from '../src/platform/crypto.ts';
import { migrate, openPglite, type Db } from '../src/platform/db/client.ts';
import { createLogger } from '../src/platform/logger.ts';
import { Decimal } from '../src/platform/money.ts';
import { randomAddress } from './chain-fixture.ts';

/**
 * Crash recovery of the Connect buy flow: a child process confirms an ETH/USDT order and is SIGKILLed at one step
 * boundary of the purchase machine; the restarted app (same database, secrets and chain) finishes the order with
 * exactly one capture, one purchase and one on-chain withdrawal, and the combined audit is clean.
 */
let anvils: AnvilHandle[] = [];
const dir = mkdtempSync(join(tmpdir(), 'rampart-bf-crash-'));
// A migrated database directory, copied for each scenario: initialising a PGlite directory costs several seconds.
const template = join(dir, 'template');
before(async () => {
  const migrated = (async () => {
    const db = await openPglite(template);
    await migrate(db);
    await db.close();
  })();
  [anvils] = await Promise.all([
    Promise.all([
      startAnvil({ chainId: networkInfo('ETH').devChainId! }),
      startAnvil({ chainId: networkInfo('BSC').devChainId! }),
    ]),
    migrated,
  ]);
});
after(async () => {
  await Promise.all(anvils.map((a) => a.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const LEASE_MS = 1000;

/**
 * Where each crash must have left the order: the step, the acquirer's charge and its ledger hold, the purchase, the
 * withdrawal.
 */
const LEFT_AT: Record<
  FaultPoint,
  { step: string; charge: string | null; hold: string | null; purchased: boolean; withdrawal: boolean }
> = {
  'limit-reserved': { step: 'AUTHORIZING', charge: null, hold: null, purchased: false, withdrawal: false },
  authorized: { step: 'AUTHORIZING', charge: 'AUTHORIZED', hold: null, purchased: false, withdrawal: false },
  'captured-at-acquirer': {
    step: 'CAPTURING',
    charge: 'CAPTURED',
    hold: 'PENDING',
    purchased: false,
    withdrawal: false,
  },
  'fiat-credited': { step: 'PURCHASING', charge: 'CAPTURED', hold: 'POSTED', purchased: false, withdrawal: false },
  purchased: { step: 'WITHDRAWING', charge: 'CAPTURED', hold: 'POSTED', purchased: true, withdrawal: false },
  'withdrawal-queued': { step: 'WITHDRAWING', charge: 'CAPTURED', hold: 'POSTED', purchased: true, withdrawal: true },
};

async function orderState(db: Db, orderId: string) {
  const bf = (
    await db.query(
      `SELECT step, step_due_at, lease_until, charge_id, withdrawal_id, payment_attempts FROM buyflow_orders
        WHERE order_id = $1`,
      [orderId],
    )
  ).rows[0];
  const charges = (await db.query(`SELECT id, status FROM card_charges WHERE ref LIKE $1 || ':%'`, [orderId])).rows as {
    id: string;
    status: string;
  }[];
  const hold =
    charges.length === 1
      ? ((await db.query(`SELECT status FROM ledger_transfers WHERE id = $1`, [`card:auth:${charges[0]!.id}`])).rows[0]
          ?.status ?? null)
      : null;
  const purchases = (
    await db.query(`SELECT count(*)::int AS n FROM ledger_transfers WHERE id = $1`, [`bf:buy:${orderId}`])
  ).rows[0].n as number;
  const order = (
    await db.query(
      `SELECT sub_status, error_code, obtain_amount, withdraw_tx_hash FROM connect_orders WHERE order_id = $1`,
      [orderId],
    )
  ).rows[0];
  const txs = bf.withdrawal_id
    ? (await db.query(`SELECT hash, status FROM chain_txs WHERE withdrawal_id = $1`, [bf.withdrawal_id])).rows
    : [];
  const withdrawal = bf.withdrawal_id
    ? (await db.query(`SELECT status, attempts FROM chain_withdrawals WHERE id = $1`, [bf.withdrawal_id])).rows[0]
    : null;
  return { bf, charges, hold, purchases, order, txs, withdrawal };
}
const show = (s: unknown) => JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));

for (const point of Object.keys(LEFT_AT) as FaultPoint[]) {
  test(
    `SIGKILL at '${point}', then restart: the worker completes the order with one capture, one purchase, one ` +
      `on-chain withdrawal, a clean audit`,
    { timeout: 120_000 },
    async () => {
      const secretsKey = randomHex(32);
      const adminToken = randomAlnum(40);
      const chainRpcUrl = `ETH=${anvils[0]!.rpcUrl},BSC=${anvils[1]!.rpcUrl}`;
      const to = randomAddress();
      const pgliteDir = join(dir, point, 'pglite');
      const dataDir = join(dir, point, 'data');
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'buyflow-crash-child.ts')], {
        env: {
          ...process.env,
          CRASH_POINT: point,
          CRASH_PGLITE_DIR: pgliteDir,
          CRASH_DATA_DIR: dataDir,
          CRASH_SECRETS_KEY: secretsKey,
          CRASH_ADMIN_TOKEN: adminToken,
          CRASH_CHAIN_RPC_URL: chainRpcUrl,
          CRASH_TO: to,
          CRASH_LEASE_MS: String(LEASE_MS),
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      cpSync(template, pgliteDir, { recursive: true });
      const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((r) =>
        child.once('exit', (c, s) => r({ code: c, signal: s })),
      );
      assert.equal(signal, 'SIGKILL', `child exited with code ${code}`);

      // Restart: same database, same secrets, same chain; workers on, default lease.
      const db = await openPglite(pgliteDir);
      const config = loadConfig({
        RAMPART_MODE: 'sandbox',
        LOG_LEVEL: 'silent',
        PUBLIC_URL: 'http://127.0.0.1:1',
        DATA_DIR: dataDir,
        CHAIN_RPC_URL: chainRpcUrl,
      });
      const app = await buildApp({
        config,
        db,
        adminToken,
        secretsKey,
        logger: createLogger((process.env.TEST_LOG_LEVEL as any) ?? 'silent'),
      });
      try {
        const orderId = (await db.query(`SELECT order_id FROM buyflow_orders`)).rows[0].order_id as string;
        const left = await orderState(db, orderId);
        const want = LEFT_AT[point];
        assert.deepEqual(
          {
            step: left.bf.step,
            charge: left.charges[0]?.status ?? null,
            hold: left.hold,
            purchased: left.purchases === 1,
            withdrawal: left.bf.withdrawal_id !== null,
          },
          want,
          `the crash left the order where '${point}' is: ${show(left)}`,
        );
        assert.equal(left.txs.length, 0, 'nothing was signed before the crash');

        app.startWorkers({ idleMs: 50 });
        const rpc = (method: string, params: unknown[]) =>
          fetch(anvils[0]!.rpcUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
          }).then((r) => r.json());
        let s = left;
        for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((res) => setTimeout(res, 250))) {
          s = await orderState(db, orderId);
          if (s.order.sub_status === 'COMPLETED') break;
          // Confirmations for the withdrawal (ETH needs 12): blocks on demand, as the other chain tests do.
          if (s.txs.length) await rpc('anvil_mine', ['0x3']);
        }
        assert.equal(
          s.order.sub_status,
          'COMPLETED',
          `after restart the order did not complete: ${show({ ...s, now: Date.now() })}`,
        );
        assert.equal(s.bf.step, 'COMPLETED');

        assert.equal(s.charges.length, 1, 'exactly one card charge for the order');
        assert.equal(s.charges[0]?.status, 'CAPTURED');
        assert.equal(s.hold, 'POSTED', 'the capture is on the ledger');
        assert.equal(s.bf.payment_attempts, 1);
        assert.equal(s.purchases, 1, 'exactly one purchase');
        assert.equal(s.txs.length, 1, `exactly one chain transaction for the withdrawal: ${show(s.txs)}`);
        assert.equal(s.withdrawal.status, 'completed');
        assert.equal(s.withdrawal.attempts, 1);
        assert.equal(s.order.withdraw_tx_hash, s.txs[0].hash);

        const token = (
          await db.query(`SELECT address, decimals FROM chain_contracts WHERE network = 'ETH' AND asset = 'USDT'`)
        ).rows[0];
        const client = createPublicClient({ transport: http(anvils[0]!.rpcUrl) });
        const onChain = await client.readContract({
          address: token.address as Address,
          abi: erc20Abi,
          functionName: 'balanceOf',
          args: [to],
        });
        const obtain = new Decimal(s.order.obtain_amount);
        assert.ok(obtain.gt(0));
        assert.equal(
          onChain,
          BigInt(obtain.mul(new Decimal(10).pow(token.decimals)).toFixed()),
          'the recipient received obtainAmount exactly once',
        );

        const audit = await app.services.audit();
        assert.ok(audit.ok, audit.problems.join('; '));
        assert.equal(audit.reconciled.cardCharges, 1);
        assert.ok(audit.reconciled.hotWallets.length > 0, 'the hot wallet was reconciled with the chain');
      } finally {
        await app.stopWorkers();
        await db.close();
      }
    },
  );
}
