import { createInterface } from 'node:readline';
import { freePort, openTestDb, type DbKind } from '../../test/helpers.ts';
import type { Db } from '../../src/platform/db/client.ts';
import { startApp } from '../targets/app.ts';
import { startDirectDebit } from '../targets/directdebit.ts';
import { startFloor } from '../targets/floor.ts';
import { startGrowth } from '../targets/growth.ts';
import { startNonces } from '../targets/nonces.ts';
import { startOutboxIsolation } from '../targets/outbox-isolation.ts';
import { startPayouts } from '../targets/payouts.ts';
import { startRefunds } from '../targets/refunds.ts';
import { startWebhooks } from '../targets/webhooks.ts';

/**
 * Child-process entry: starts one target on a fresh database (a migrated PGlite, or a fresh schema on PostgreSQL)
 * and prints `READY {json}`; stops and drops the database when stdin closes. The server runs in its own process
 * so the load generator does not share its event loop.
 * A target may offer commands (work that must run inside its process, e.g. draining the outbox): a stdin line
 * `CMD <id> <name> <json arg>` is answered by `RESULT <id> <json>` or `FAIL <id> <json message>` on stdout.
 *   node --import tsx bench/lib/server.ts <target> <pglite|pg>
 */
export interface Target {
  info: { baseUrl: string } & Record<string, string>;
  close(): Promise<void>;
  commands?: Record<string, (arg: any) => Promise<unknown>>;
}

export const TARGETS: Record<string, (db: Db, port: number) => Promise<Target>> = {
  app: startApp,
  directdebit: startDirectDebit,
  floor: startFloor,
  growth: startGrowth,
  nonces: startNonces,
  'outbox-isolation': startOutboxIsolation,
  payouts: startPayouts,
  refunds: startRefunds,
  webhooks: startWebhooks,
};

async function main() {
  const [name, kind] = process.argv.slice(2) as [string, DbKind];
  const start = TARGETS[name];
  if (!start || (kind !== 'pglite' && kind !== 'pg'))
    throw new Error(`usage: server.ts <${Object.keys(TARGETS).join('|')}> <pglite|pg>`);
  const { db, drop } = await openTestDb(kind);
  const target = await start(db, await freePort());
  process.stdout.write(`READY ${JSON.stringify(target.info)}\n`);
  const rl = createInterface({ input: process.stdin });
  const running = new Set<Promise<void>>();
  rl.on('line', (line) => {
    const m = /^CMD (\d+) (\S+) (.*)$/.exec(line);
    if (!m) return;
    const [, id, name = '', arg = ''] = m; // every group takes part in a match
    const cmd = target.commands?.[name];
    const p = (async () => {
      try {
        if (!cmd) throw new Error(`target ${process.argv[2]} has no command ${name}`);
        process.stdout.write(`RESULT ${id} ${JSON.stringify(await cmd(JSON.parse(arg)))}\n`);
      } catch (e: any) {
        process.stdout.write(`FAIL ${id} ${JSON.stringify(String(e?.stack ?? e))}\n`);
      }
    })();
    running.add(p);
    void p.finally(() => running.delete(p));
  });
  await new Promise<void>((r) => rl.on('close', r));
  await Promise.all(running);
  await target.close();
  await drop();
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
