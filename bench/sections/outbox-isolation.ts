import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTarget } from '../lib/spawn.ts';
import { row, type Section } from '../lib/types.ts';

/**
 * Head-of-line blocking in the outbox (issue 13): Pay webhook deliveries per second to 20 healthy receivers
 * (each its own 127.0.0.1 port, so its own destination host) while one more receiver hangs every request until
 * the engine's 5 s timeout with a backlog queued ahead of the healthy events, against the same run without the
 * hanging receiver. Both runs use the app's continuous outbox pool in the target process; the rate counts the
 * healthy deliveries only, from the pool's start until the healthy receivers have got every one of them.
 */
const RECEIVERS = Number(process.env.BENCH_ISOLATION_RECEIVERS ?? 20);
const PER_RECEIVER = Number(process.env.BENCH_ISOLATION_PER_RECEIVER ?? 100);
const BACKLOG = Number(process.env.BENCH_ISOLATION_BACKLOG ?? 200);
const ACK = '{"returnCode":"SUCCESS","returnMessage":null}';

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook` };
}

interface RunResult {
  elapsedMs: number;
  cpuMs: number;
  delivered: number;
  total: number;
  p50Ms: number;
  p99Ms: number;
  firstError: string | null;
  hangingAttempts: number;
}

export const outboxIsolation: Section = async (ctx) => {
  let received = 0;
  let waiter: { n: number; resolve: () => void } | null = null;
  const healthy = await Promise.all(
    Array.from({ length: RECEIVERS }, () =>
      listen((req, res) => {
        req.on('data', () => {});
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ACK) }).end(ACK);
          if (++received >= (waiter?.n ?? Infinity)) waiter!.resolve();
        });
      }),
    ),
  );
  // Never answers: the engine gives up on each request at its 5 s timeout.
  let hangingSeen = 0;
  const hanging = await listen((req) => {
    hangingSeen++;
    req.on('data', () => {});
  });
  const t = await startTarget('outbox-isolation', ctx.kind);
  try {
    const urls = healthy.map((h) => h.url);
    const run = async (withHanging: boolean, perReceiver = PER_RECEIVER): Promise<RunResult> => {
      await t.command('prepare', {
        healthy: urls,
        perReceiver,
        hanging: withHanging ? hanging.url : null,
        backlog: BACKLOG,
      });
      const total = RECEIVERS * perReceiver;
      received = 0;
      const all = new Promise<void>((resolve) => (waiter = { n: total, resolve }));
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, 120_000).unref());
      await t.command('start');
      const t0 = performance.now();
      await Promise.race([all, timeout]);
      const elapsedMs = performance.now() - t0;
      waiter = null;
      const r = await t.command<Omit<RunResult, 'elapsedMs' | 'total' | 'hangingAttempts'>>('stop', { healthy: urls });
      return { ...r, elapsedMs, total, hangingAttempts: hangingSeen };
    };
    await run(false, 10); // warm-up: JIT, keep-alive connections, statement paths
    const base = await run(false);
    hangingSeen = 0;
    const slow = await run(true);
    const toRow = (r: RunResult) => ({
      requests: r.delivered,
      errors: r.total - r.delivered,
      rps: (r.delivered * 1000) / r.elapsedMs,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      serverCpuUsPerReq: r.delivered ? (r.cpuMs * 1000) / r.delivered : null,
      ...(r.firstError ? { firstError: r.firstError } : {}),
    });
    return [
      {
        ...row(ctx, 'outbox.isolation-healthy', `outbox: ${RECEIVERS} healthy receivers`, toRow(base)),
        concurrency: RECEIVERS,
      },
      {
        ...row(
          ctx,
          'outbox.isolation-hanging',
          `outbox: ${RECEIVERS} healthy + 1 hanging`,
          toRow(slow),
          'outbox.isolation-healthy',
        ),
        concurrency: RECEIVERS + 1,
        hangingAttempts: slow.hangingAttempts,
      },
    ];
  } finally {
    await t.stop();
    for (const s of [...healthy, hanging]) {
      s.server.closeAllConnections();
      await new Promise((r) => s.server.close(r));
    }
  }
};
