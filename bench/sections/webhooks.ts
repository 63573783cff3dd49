import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadResult } from '../lib/load.ts';
import { startTarget } from '../lib/spawn.ts';
import { row, type Section } from '../lib/types.ts';

/**
 * Webhook deliveries per second from the real delivery engine (signed Pay webhooks POSTed to a receiver on
 * 127.0.0.1 that acknowledges them), beside a floor measured in the same run: a plain POST loop from the
 * engine's process to the same receiver, same body bytes, as many requests in flight as the engine had.
 * The engine and the floor run in the target process; the receiver runs here, in the bench process.
 */
const COUNT = Number(process.env.BENCH_WEBHOOK_COUNT ?? 2000);
const WARMUP = Number(process.env.BENCH_WEBHOOK_WARMUP ?? 200);
/** Outbox worker loops sharing the drain (the app runs one per process). */
const WORKERS = Number(process.env.BENCH_WEBHOOK_WORKERS ?? 1);
const ACK = '{"returnCode":"SUCCESS","returnMessage":null}';

/**
 * The merchant's endpoint: reads the whole body and answers the Pay ack. It also records the most connections open at
 * once: each keep-alive connection carries one request at a time, so that is the most requests a client had in flight.
 */
async function startReceiver() {
  let open = 0;
  let maxOpen = 0;
  let received = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.on('data', () => {});
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ACK) });
      res.end(ACK);
    });
  });
  server.on('connection', (socket) => {
    maxOpen = Math.max(maxOpen, ++open);
    socket.on('close', () => open--);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  return {
    url,
    /** Requests received and the most connections open at once since the last take(). */
    take() {
      const r = { received, maxOpen };
      received = 0;
      maxOpen = open;
      return r;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const result = (
  ok: number,
  errors: number,
  elapsedMs: number,
  cpuMs: number,
  p50Ms: number,
  p99Ms: number,
  firstError: string | null,
): LoadResult => ({
  requests: ok,
  errors,
  rps: (ok * 1000) / elapsedMs,
  p50Ms,
  p99Ms,
  serverCpuUsPerReq: ok ? (cpuMs * 1000) / ok : null,
  ...(firstError ? { firstError } : {}),
});

export const webhooks: Section = async (ctx) => {
  const receiver = await startReceiver();
  const t = await startTarget('webhooks', ctx.kind);
  try {
    const { url } = receiver;
    // Warm-up: JIT, connection pool, statement paths; not counted.
    const w = await t.command<{ body: string }>('enqueue', { count: WARMUP, url });
    await t.command('drain', { workers: WORKERS });
    const warm = receiver.take();
    await t.command('floor', { count: WARMUP, url, concurrency: Math.max(1, warm.maxOpen), body: w.body });
    // The floor's connections are closed when its loop ends; wait until the receiver has seen them go.
    await new Promise((r) => setTimeout(r, 100));
    receiver.take();

    const { body } = await t.command<{ body: string }>('enqueue', { count: COUNT, url });
    const d = await t.command('drain', { workers: WORKERS });
    const engine = receiver.take();
    const delivered = d.statuses.DONE ?? 0;
    const engineErrors = COUNT - delivered;
    // The engine's keep-alive connections stay open after the warm-up, so its peak is the larger of the two phases.
    const concurrency = Math.max(1, warm.maxOpen, engine.maxOpen);

    const f = await t.command('floor', { count: COUNT, url, concurrency, body });
    const floor = receiver.take();
    if (floor.received !== f.ok + f.errors)
      throw new Error(`receiver saw ${floor.received} floor POSTs, the loop sent ${f.ok + f.errors}`);
    const bodyBytes = Buffer.byteLength(body);
    return [
      {
        ...row(
          ctx,
          'webhooks.floor-post',
          `webhooks floor: plain POST (${concurrency} in flight)`,
          result(f.ok, f.errors, f.elapsedMs, f.cpuMs, f.p50Ms, f.p99Ms, f.firstError),
        ),
        concurrency,
        bodyBytes,
      },
      {
        ...row(
          ctx,
          'webhooks.pay-delivered',
          `webhooks: Pay deliveries (${COUNT}, ${WORKERS} worker)`,
          result(
            delivered,
            engineErrors,
            d.elapsedMs,
            d.cpuMs,
            d.p50Ms,
            d.p99Ms,
            d.firstError ?? (engineErrors ? `outbox ${JSON.stringify(d.statuses)}` : null),
          ),
          'webhooks.floor-post',
        ),
        concurrency,
        bodyBytes,
        receiverSaw: engine.received,
      },
    ];
  } finally {
    await t.stop();
    await receiver.close();
  }
};
