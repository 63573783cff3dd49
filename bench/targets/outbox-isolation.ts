import type { Db } from '../../src/platform/db/client.ts';
import { enqueuePayWebhook } from '../../src/pay/events.ts';
import { WEBHOOK_TOPIC } from '../../src/platform/outbox/webhook-family.ts';
import type { Target } from '../lib/server.ts';
import { bootApp } from './app.ts';

/**
 * The app's continuous outbox pool (the one `startWorkers` runs) delivering to many receivers, driven by commands:
 *   prepare {healthy: url[], perReceiver, hanging: url | null, backlog}
 *     queues `perReceiver` Pay webhooks for each healthy receiver (and `backlog` for the hanging one first, so they are
 *     claimed first); each event has its own bizId, so its own ordering key
 *   start    starts the pool (the bench process times it by what its receivers get)
 *   stop {healthy}   stops it; returns CPU time since start, healthy deliveries DONE and their latencies
 */
const cpuMs = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};

export async function startOutboxIsolation(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant } = await bootApp(db, port);
  const { outbox, ids, signingKeys } = app.services;
  await signingKeys.current('pay-webhook');

  async function enqueue(url: string, count: number) {
    for (let i = 0; i < count; i += 200) {
      await db.tx(async (q) => {
        for (let j = i; j < Math.min(count, i + 200); j++) {
          const bizId = String(ids.next());
          await enqueuePayWebhook(outbox, q, {
            url,
            ownerId: merchant.merchantId,
            bizType: 'PAY',
            bizId,
            bizStatus: 'PAY_SUCCESS',
            data: { n: j },
          });
        }
      });
    }
  }

  let pool: { stop(): Promise<void> } | null = null;
  let cpu0: NodeJS.CpuUsage | null = null;

  return {
    info: { baseUrl },
    async close() {
      app.services.webhooks.close();
      await server.close();
    },
    commands: {
      async prepare({
        healthy,
        perReceiver,
        hanging,
        backlog,
      }: {
        healthy: string[];
        perReceiver: number;
        hanging: string | null;
        backlog: number;
      }) {
        await db.query(`DELETE FROM webhook_delivery_attempts`);
        await db.query(`DELETE FROM outbox`);
        if (hanging) await enqueue(hanging, backlog);
        // Interleaved by receiver, as many merchants' events would arrive.
        for (let i = 0; i < perReceiver; i += 50)
          for (const url of healthy) await enqueue(url, Math.min(50, perReceiver - i));
        return {};
      },
      async start() {
        cpu0 = process.cpuUsage();
        pool = app.outboxWorker.start({ idleMs: 20 });
        return {};
      },
      async stop({ healthy }: { healthy: string[] }) {
        const cpu = cpuMs(cpu0!);
        await pool!.stop(); // waits for the hanging receiver's requests to time out; not counted
        const firstError =
          (
            await db.query(
              `SELECT error FROM webhook_delivery_attempts WHERE NOT acked AND url = ANY($1::text[]) LIMIT 1`,
              [healthy],
            )
          ).rows[0]?.error ?? null;
        const lat = (
          await db.query(`SELECT latency_ms FROM webhook_delivery_attempts WHERE acked ORDER BY latency_ms`)
        ).rows.map((r) => Number(r.latency_ms));
        const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
        const delivered = Number(
          (
            await db.query(
              `SELECT count(*) AS n FROM outbox WHERE topic = $1 AND status = 'DONE'
                AND payload->>'url' = ANY($2::text[])`,
              [WEBHOOK_TOPIC, healthy],
            )
          ).rows[0].n,
        );
        return { cpuMs: cpu, delivered, p50Ms: q(0.5), p99Ms: q(0.99), firstError };
      },
    },
  };
}
