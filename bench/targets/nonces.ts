import type { Db } from '../../src/platform/db/client.ts';
import { createPayAuth } from '../../src/pay/auth.ts';
import { startLoop, type Loop } from '../../src/platform/worker.ts';
import type { Target } from '../lib/server.ts';
import { bootApp } from './app.ts';

/**
 * Nonces (issue 20): the real app with the Pay nonce pruning loop (the app's `pay-nonces` worker: pruneNonces every
 * 500 ms when idle, at once again while it deletes) switched on and off by command, and the size of pay_nonces.
 * The timestamp window is the app's PAY_TIMESTAMP_TOLERANCE_MS (BENCH_APP_ENV may shorten it): nonces are kept for
 * twice that window.
 */
export async function startNonces(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant, config } = await bootApp(db, port);
  const auth = createPayAuth({ db, accounts: app.services.accounts, config: config.pay });
  let loop: Loop | null = null;
  let pruned = 0;
  let pruneCalls = 0;
  let pruneMsMax = 0;
  const tick = async () => {
    const t = performance.now();
    const n = await auth.pruneNonces();
    pruneMsMax = Math.max(pruneMsMax, performance.now() - t);
    pruneCalls++;
    pruned += n;
    return n;
  };
  return {
    info: {
      baseUrl,
      apiKey: merchant.apiKey,
      apiSecret: merchant.apiSecret,
      retentionMs: String(2 * config.pay.timestampToleranceMs),
    },
    commands: {
      async prune(arg: { on: boolean }) {
        if (arg.on && !loop) loop = startLoop('pay-nonces', tick, { idleMs: 500 });
        if (!arg.on && loop) {
          await loop.stop();
          loop = null;
        }
        return { on: !!loop };
      },
      /** Rows and bytes (table + indexes) of pay_nonces, and what pruning did since the last call. */
      async stats() {
        const r = (
          await db.query<{ rows: string; bytes: string }>(
            `SELECT count(*) AS rows, pg_total_relation_size('pay_nonces') AS bytes FROM pay_nonces`,
          )
        ).rows[0]!;
        const out = { rows: Number(r.rows), bytes: Number(r.bytes), pruned, pruneCalls, pruneMsMax };
        pruned = 0;
        pruneCalls = 0;
        pruneMsMax = 0;
        return out;
      },
    },
    close: async () => {
      await loop?.stop();
      await server.close();
      await app.stopWorkers();
    },
  };
}
