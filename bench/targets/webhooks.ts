import { Agent, request } from 'node:http';
import type { Db } from '../../src/platform/db/client.ts';
import { raw } from '../../src/platform/json.ts';
import { WEBHOOK_TOPIC } from '../../src/platform/outbox/webhook-family.ts';
import { enqueuePayWebhook, num8, payWebhookBody } from '../../src/pay/events.ts';
import type { Target } from '../lib/server.ts';
import { bootApp } from './app.ts';

/**
 * The real app's webhook delivery engine, driven by commands (see server.ts) so that queueing, draining and the
 * floor's POST loop all run in this process while the receiver lives in the bench process:
 *   enqueue {count, url}      N PAY_SUCCESS events through the real outbox (each its own bizId, so its own ordering
 * key)
 *   drain {workers}           runs the app's outbox worker until nothing is due; times it
 *   floor {count, url, concurrency, body}   N plain POSTs of the same bytes, `concurrency` in flight, no signing, no
 * database
 */
const quantile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
const cpuMs = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};

export async function startWebhooks(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant } = await bootApp(db, port);
  const { outbox, ids, clock, signingKeys } = app.services;
  // The key is generated on first use; do it now so the first delivery does not pay for an RSA key generation.
  await signingKeys.current('pay-webhook');

  /** A PAY_SUCCESS event's data, shaped as the order service builds it (spec §6.5). */
  const eventData = (prepayId: string) => ({
    merchantTradeNo: `B${prepayId}`,
    productType: '01',
    productName: 'Ice Cream',
    transactTime: clock.now(),
    tradeType: 'WEB',
    totalFee: num8('25.17'),
    currency: 'USDT',
    transactionId: `M_P_${prepayId}`,
    openUserId: 'd6b1b6e0f1c34c0e9a2e3f4a5b6c7d8e',
    commission: num8('0.2517'),
    paymentInfo: {
      payerId: raw('1000000017'),
      payMethod: 'FUNDING',
      paymentInstructions: [{ currency: 'USDT', amount: num8('25.17'), price: raw('1') }],
    },
  });

  return {
    info: { baseUrl },
    async close() {
      app.services.webhooks.close();
      await server.close();
      await app.stopWorkers();
    },
    commands: {
      async enqueue({ count, url }: { count: number; url: string }) {
        let body = '';
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
                data: eventData(bizId),
              });
              body ||= payWebhookBody('PAY', bizId, 'PAY_SUCCESS', eventData(bizId));
            }
          });
        }
        return { body };
      },

      async drain({ workers }: { workers: number }) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        // Several loops share the app's worker the way several worker processes share the table (SKIP LOCKED).
        await Promise.all(
          Array.from({ length: workers }, async () => {
            while ((await app.outboxWorker.runOnce()) > 0) {
              /* until nothing is due */
            }
          }),
        );
        const elapsedMs = performance.now() - t0;
        const cpu = cpuMs(cpu0);
        const statuses = Object.fromEntries(
          (
            await db.query(`SELECT status, count(*) AS n FROM outbox WHERE topic = $1 GROUP BY status`, [WEBHOOK_TOPIC])
          ).rows.map((r) => [r.status, Number(r.n)]),
        );
        const lat = (
          await db.query(`SELECT latency_ms FROM webhook_delivery_attempts WHERE acked ORDER BY latency_ms`)
        ).rows.map((r) => Number(r.latency_ms));
        const firstError =
          (await db.query(`SELECT error FROM webhook_delivery_attempts WHERE NOT acked LIMIT 1`)).rows[0]?.error ??
          null;
        // Clear the finished rows so a later drain in this process measures only its own events.
        await db.query(`DELETE FROM webhook_delivery_attempts`);
        await db.query(`DELETE FROM outbox WHERE topic = $1 AND status <> 'PENDING'`, [WEBHOOK_TOPIC]);
        return { elapsedMs, cpuMs: cpu, statuses, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99), firstError };
      },

      async floor({
        count,
        url,
        concurrency,
        body,
      }: {
        count: number;
        url: string;
        concurrency: number;
        body: string;
      }) {
        const target = new URL(url);
        const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
        const bytes = Buffer.from(body, 'utf8');
        const lat: number[] = [];
        let errors = 0;
        let firstError: string | null = null;
        let started = 0;
        const post = () =>
          new Promise<number>((resolve, reject) => {
            const r = request(
              {
                host: target.hostname,
                port: target.port,
                path: target.pathname,
                method: 'POST',
                agent,
                headers: { 'Content-Type': 'application/json', 'Content-Length': String(bytes.length) },
              },
              (res) => {
                res.on('data', () => {});
                res.on('end', () => resolve(res.statusCode ?? 0));
                res.on('error', reject);
              },
            );
            r.on('error', reject);
            r.end(bytes);
          });
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (started < count) {
              started++;
              const s = performance.now();
              try {
                const status = await post();
                if (status === 200) lat.push(performance.now() - s);
                else {
                  errors++;
                  firstError ??= `HTTP ${status}`;
                }
              } catch (e: any) {
                errors++;
                firstError ??= String(e?.code ?? e?.message ?? e);
              }
            }
          }),
        );
        const elapsedMs = performance.now() - t0;
        const cpu = cpuMs(cpu0);
        agent.destroy();
        lat.sort((a, b) => a - b);
        return {
          elapsedMs,
          cpuMs: cpu,
          ok: lat.length,
          errors,
          p50Ms: quantile(lat, 0.5),
          p99Ms: quantile(lat, 0.99),
          firstError,
        };
      },
    },
  };
}
