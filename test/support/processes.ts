import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, PG_URL } from '../helpers.ts';
import { waitFor } from './webhook-receiver.ts';

/**
 * Several real platform processes (`src/main.ts`) on one fresh PostgreSQL database: API processes without background
 * work and worker processes, as a multi-process deployment runs them. `create()` makes the database; `close()` kills
 * every process and drops it.
 */
const ROOT = join(import.meta.dirname, '..', '..');

export function processFixture(name: string, adminToken: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `rampart-${name}-`));
  const dbName = `rampart_${name}_${randomBytes(5).toString('hex')}`;
  const children: ChildProcess[] = [];

  async function create() {
    const setup = new pg.Client({ connectionString: PG_URL });
    await setup.connect();
    await setup.query(`CREATE DATABASE ${dbName}`);
    await setup.end();
  }

  function spawnServer(env: Record<string, string>): ChildProcess {
    const url = new URL(PG_URL);
    url.pathname = `/${dbName}`;
    const full: NodeJS.ProcessEnv = {
      ...process.env,
      DATA_DIR: dataDir,
      DATABASE_URL: url.toString(),
      ADMIN_TOKEN: adminToken,
      SECRETS_KEY: 'cd'.repeat(32),
      LOG_LEVEL: 'silent',
      RAMPART_MODE: 'sandbox',
      ...env,
    };
    delete full.PUBLIC_URL;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: full,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
    child.on('exit', (code) => {
      if (code) console.error(`server exited ${code}: ${stderr}`);
    });
    children.push(child);
    return child;
  }

  /**
   * An API process (no background work); resolves with its base URL once it answers. The first one migrates the
   * database.
   */
  async function startApi(): Promise<string> {
    const port = await freePort();
    const child = spawnServer({ PORT: String(port), WORKERS: '0' });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'API up',
      async () => {
        if (child.exitCode !== null) throw new Error('API process exited');
        return fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      60_000,
      100,
    );
    return base;
  }

  const admin = async (base: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json()) as any };
  };

  async function close() {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.all(
      children.map((c) =>
        c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null,
      ),
    );
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    await db.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await db.end();
    rmSync(dataDir, { recursive: true, force: true });
  }

  return { create, spawnServer, startApi, admin, close };
}
