import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { resolveAnvilBinary, startAnvil } from '../src/chain/anvil.ts';
import { freePort, PG_URL } from './helpers.ts';
import { waitFor } from './support/webhook-receiver.ts';

/**
 * The embedded chain never outlives the platform process, however it dies, and never has two anvils on one state
 * file: a SIGKILLed server leaves no anvil behind and restarts on the same chain state; a leftover anvil named by a
 * dead owner's pid file is stopped before a new one loads the state.
 */
const ROOT = join(import.meta.dirname, '..');

/** Processes whose command line names this directory (anvil is started with `--state <dir>/chain/...`). */
function anvilsOf(dir: string): number[] {
  const out = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .filter((l) => l.includes('anvil') && l.includes(`${dir}/`))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

async function rpc(url: string, method: string, params: unknown[]): Promise<any> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return ((await res.json()) as any).result;
}

describe('embedded chain lifecycle', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const dbName = `rampart_anvil_${randomBytes(5).toString('hex')}`;
  let dbCreated = false;
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    for (const d of dirs) {
      for (const pid of anvilsOf(d)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(d, { recursive: true, force: true });
    }
    if (dbCreated) {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
  });

  test(
    'kill -9 of the server leaves no anvil running; a restart runs on the same chain state',
    { timeout: 240_000, skip: PG_URL ? false : 'needs DATABASE_URL or TEST_DATABASE_URL' },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'rampart-orphan-'));
      dirs.push(dataDir);
      const setup = new pg.Client({ connectionString: PG_URL });
      await setup.connect();
      await setup.query(`CREATE DATABASE ${dbName}`);
      dbCreated = true;
      await setup.end();
      const url = new URL(PG_URL);
      url.pathname = `/${dbName}`;
      const db = new pg.Client({ connectionString: url.toString() });

      const start = async () => {
        const port = await freePort();
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          DATA_DIR: dataDir,
          DATABASE_URL: url.toString(),
          PORT: String(port),
          LOG_LEVEL: 'silent',
          WORKERS: '1',
          RAMPART_MODE: 'sandbox',
          ADMIN_TOKEN: 'orphan-test-admin-token-0123456789',
          SECRETS_KEY: 'cd'.repeat(32),
        };
        delete env.PUBLIC_URL;
        delete env.CHAIN_RPC_URL;
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
          cwd: ROOT,
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        children.push(child);
        let stderr = '';
        child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
        const base = `http://127.0.0.1:${port}`;
        // The chain starts on first need: the worker starts it once a deposit address exists.
        await waitFor(
          'both embedded chains ready',
          async () => {
            if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
            try {
              const r = (await (await fetch(`${base}/readyz`)).json()) as any;
              return r.chain?.ETH === 'ok' && r.chain?.BSC === 'ok';
            } catch {
              return false;
            }
          },
          120_000,
          250,
        );
        return child;
      };

      const first = start();
      await waitFor(
        'database migrated',
        async () => {
          try {
            if (!db.listeners('error').length) {
              db.on('error', () => {});
              await db.connect();
            }
            return (await db.query(`SELECT to_regclass('chain_deposit_addresses') AS t`)).rows[0].t !== null;
          } catch {
            return false;
          }
        },
        60_000,
        250,
      );
      await db.query(
        `INSERT INTO chain_deposit_addresses (owner_type, owner_id, family, derivation_index, address, created_at)
          VALUES ('user', 'u1', 'evm', 0, '0x00000000000000000000000000000000000000a1', 0)`,
      );
      const server = await first;
      const before = (await db.query(`SELECT network, asset, address FROM chain_contracts ORDER BY network, asset`))
        .rows;
      assert.ok(before.length >= 5, 'the sandbox tokens are deployed');
      assert.equal(anvilsOf(dataDir).length, 2, 'one anvil per EVM network');
      await new Promise((r) => setTimeout(r, 2_500)); // a periodic state dump has happened

      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      await waitFor('no anvil of this DATA_DIR left', () => anvilsOf(dataDir).length === 0, 10_000, 100).catch(() =>
        assert.fail(`anvils still running after kill -9 of the server: ${anvilsOf(dataDir).join(', ')}`),
      );

      const second = await start();
      const after = (await db.query(`SELECT network, asset, address FROM chain_contracts ORDER BY network, asset`))
        .rows;
      assert.deepEqual(after, before, 'the restarted chain kept its contracts: nothing was deployed again');
      const eth = JSON.parse(readFileSync(join(dataDir, 'chain', 'eth-state.json.pid'), 'utf8'));
      const usdt = before.find((r) => r.network === 'ETH' && r.asset === 'USDT')!;
      assert.notEqual(
        await rpc(eth.rpcUrl, 'eth_getCode', [usdt.address, 'latest']),
        '0x',
        'the token contract is on the restarted chain',
      );
      assert.equal(anvilsOf(dataDir).length, 2, 'one anvil per state file');

      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));
      await waitFor('clean shutdown stops the chains', () => anvilsOf(dataDir).length === 0, 10_000, 100);
      await db.end();
    },
  );

  test(
    'a leftover anvil of a dead owner is stopped before a new one loads its state',
    { timeout: 60_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rampart-leftover-'));
      dirs.push(dir);
      const statePath = join(dir, 'chain', 'eth-state.json');
      mkdirSync(join(dir, 'chain'));
      // As a platform process killed before any watchdog existed would leave it: an anvil on the state file, and its
      // pid file.
      const port = await freePort();
      const leftover = spawn(
        resolveAnvilBinary(),
        [
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--chain-id',
          '31337',
          '--silent',
          '--state',
          statePath,
          '--state-interval',
          '2',
        ],
        { stdio: 'ignore' },
      );
      children.push(leftover);
      await waitFor(
        'leftover up',
        async () => Boolean(await rpc(`http://127.0.0.1:${port}`, 'eth_chainId', []).catch(() => null)),
        15_000,
        50,
      );
      const dead = spawnSync(process.execPath, ['-e', '0']).pid;
      writeFileSync(
        `${statePath}.pid`,
        JSON.stringify({
          owner: dead,
          since: Date.now(),
          pid: leftover.pid,
          rpcUrl: `http://127.0.0.1:${port}`,
          chainId: 31337,
        }),
      );

      const a = await startAnvil({ chainId: 31337, statePath });
      try {
        assert.ok(leftover.exitCode !== null || leftover.signalCode !== null, 'the leftover anvil was stopped');
        assert.notEqual(a.pid, leftover.pid);
        assert.deepEqual(anvilsOf(dir), [a.pid], 'exactly one anvil on the state file');
        // A second start in the same process shares the running chain rather than starting another writer.
        const again = await startAnvil({ chainId: 31337, statePath });
        assert.equal(again.rpcUrl, a.rpcUrl);
        assert.deepEqual(anvilsOf(dir), [a.pid]);
      } finally {
        await a.stop();
      }
      assert.deepEqual(anvilsOf(dir), []);
    },
  );
});
