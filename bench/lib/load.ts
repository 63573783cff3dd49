import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { randomAlnum } from '../../src/platform/crypto.ts';
import { signPay } from '../../src/pay/auth.ts';

/**
 * Closed-loop load generator: exactly `concurrency` requests in flight over keep-alive connections for a
 * fixed time. Only requests that complete inside the measurement window (after the warm-up) count.
 */
export interface LoadOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** The server's process id: its CPU time over the measurement window is reported per request. */
  serverPid?: number;
}

/** CPU time (user + system, all threads) a process has used, in ms; null where /proc is not available. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

export interface PreparedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Server process CPU per successful request (µs), null when not measured; load-independent unlike req/s. */
  serverCpuUsPerReq?: number | null;
  firstError?: string;
}

export async function runLoad(
  baseUrl: string,
  opts: LoadOptions,
  next: () => PreparedRequest,
  /** Called with each response; returns false when the response is not the expected success. */
  check: (status: number, body: string) => boolean,
): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency, maxFreeSockets: opts.concurrency });
  const started = performance.now();
  const measureFrom = started + opts.warmupMs;
  const measureTo = measureFrom + opts.durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let cpuFrom: number | null = null;
  let cpuTo: number | null = null;
  const pid = opts.serverPid;
  const timers = pid
    ? [
        setTimeout(() => {
          cpuFrom = processCpuMs(pid);
        }, opts.warmupMs),
        setTimeout(() => {
          cpuTo = processCpuMs(pid);
        }, opts.warmupMs + opts.durationMs),
      ]
    : [];

  const once = (req: PreparedRequest) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = request(
        {
          host: url.hostname,
          port: url.port,
          path: req.path,
          method: 'POST',
          agent,
          headers: { ...req.headers, 'content-length': Buffer.byteLength(req.body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      r.end(req.body);
    });

  async function worker() {
    while (performance.now() < measureTo) {
      const req = next();
      const t0 = performance.now();
      let good = false;
      let detail = '';
      try {
        const res = await once(req);
        good = check(res.status, res.body);
        if (!good) detail = `${res.status} ${res.body.slice(0, 200)}`;
      } catch (e: any) {
        detail = String(e?.message ?? e);
      }
      const t1 = performance.now();
      if (t0 < measureFrom || t1 > measureTo) continue;
      if (good) latencies.push(t1 - t0);
      else {
        errors++;
        firstError ??= detail;
      }
    }
  }

  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  timers.forEach(clearTimeout);
  agent.destroy();
  const cpu =
    cpuFrom !== null && cpuTo !== null && latencies.length ? ((cpuTo - cpuFrom) * 1000) / latencies.length : null;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies.length ? (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN) : NaN;
  return {
    requests: latencies.length,
    errors,
    rps: latencies.length / (opts.durationMs / 1000),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    serverCpuUsPerReq: cpu,
    firstError,
  };
}

/** A Binance Pay request with a fresh nonce, the current timestamp and its HMAC-SHA512 signature. */
export function signedPayRequest(path: string, apiKey: string, secret: string, body: string): PreparedRequest {
  const timestamp = String(Date.now());
  const nonce = randomAlnum(32);
  return {
    path,
    body,
    headers: {
      'content-type': 'application/json',
      'BinancePay-Timestamp': timestamp,
      'BinancePay-Nonce': nonce,
      'BinancePay-Certificate-SN': apiKey,
      'BinancePay-Signature': signPay(secret, timestamp, nonce, body),
    },
  };
}

export const isPaySuccess = (status: number, body: string) => status === 200 && body.startsWith('{"status":"SUCCESS"');

/**
 * A worker target's drain: `runOnce` called until a round handles nothing, with the wall-clock time and this
 * process's CPU time (user + system) it took. The payouts, direct debit and refunds targets measure their drains
 * alike so their figures compare.
 */
export async function timedDrain(
  runOnce: () => Promise<number>,
): Promise<{ handled: number; elapsedMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let handled = 0;
  for (let n; (n = await runOnce()) > 0;) handled += n;
  const elapsedMs = performance.now() - t0;
  const d = process.cpuUsage(cpu0);
  return { handled, elapsedMs, cpuMs: (d.user + d.system) / 1000 };
}
