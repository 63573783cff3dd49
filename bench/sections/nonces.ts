import { isPaySuccess, runLoad, signedPayRequest } from '../lib/load.ts';
import { createOrderV3Body } from '../lib/pay.ts';
import { startTarget, targetInfo } from '../lib/spawn.ts';
import { row, type BenchRow, type Section } from '../lib/types.ts';

/**
 * Nonces (issue 20; opt-in: BENCH_SECTIONS=nonces). Signed create-order v3 load, 16 in flight (the measured create
 * rate), on the real app with the Pay nonce pruning loop:
 *  1. pruning off for BENCH_NONCES_OFF_MS (60 s): the p99 without pruning, and a backlog for the pruning to come;
 *  2. pruning on for BENCH_NONCES_MS (600 s), in windows of BENCH_NONCES_WINDOW_MS (60 s): per window the p99 and
 *     pay_nonces' rows and bytes at its end, and what the pruning deleted (and its slowest call) during it.
 * Nonces are kept for twice PAY_TIMESTAMP_TOLERANCE_MS (5 min by default, so 10 min); the row count levels off once
 * the load has run that long. Set BENCH_APP_ENV='{"PAY_TIMESTAMP_TOLERANCE_MS":"60000"}' to see it level off
 * within the run.
 */
interface Stats {
  rows: number;
  bytes: number;
  pruned: number;
  pruneCalls: number;
  pruneMsMax: number;
}

export const nonces: Section = async (ctx) => {
  const offMs = Number(process.env.BENCH_NONCES_OFF_MS ?? 60_000);
  const onMs = Number(process.env.BENCH_NONCES_MS ?? 600_000);
  const windowMs = Number(process.env.BENCH_NONCES_WINDOW_MS ?? 60_000);
  const t = await startTarget('nonces', ctx.kind);
  try {
    const apiKey = targetInfo(t, 'apiKey');
    const apiSecret = targetInfo(t, 'apiSecret');
    const retentionMs = Number(targetInfo(t, 'retentionMs'));
    const load = (durationMs: number, warmupMs = 0) =>
      runLoad(
        t.info.baseUrl,
        { concurrency: 16, warmupMs, durationMs, serverPid: t.pid },
        () => signedPayRequest('/binancepay/openapi/v3/order', apiKey, apiSecret, createOrderV3Body()),
        isPaySuccess,
      );
    const ctx16 = { ...ctx, load: { ...ctx.load, concurrency: 16 } };
    const rows: BenchRow[] = [];
    await t.command('prune', { on: false });
    const off = await load(offMs, 1000);
    const afterOff = await t.command<Stats>('stats');
    console.log(`  nonces ${ctx.kind}: pruning off ${offMs / 1000} s: ${JSON.stringify(afterOff)}`);
    rows.push(row(ctx16, 'nonces.create-no-pruning', `nonces: create order, pruning off (${offMs / 1000} s)`, off));
    await t.command('prune', { on: true });
    const windows: { s: number; p99: number; rps: number; stats: Stats }[] = [];
    let worstP99 = 0;
    let total = { requests: 0, errors: 0 };
    for (let at = 0; at < onMs; at += windowMs) {
      const w = await load(Math.min(windowMs, onMs - at));
      const stats = await t.command<Stats>('stats');
      windows.push({ s: (at + windowMs) / 1000, p99: w.p99Ms, rps: w.rps, stats });
      worstP99 = Math.max(worstP99, w.p99Ms);
      total = { requests: total.requests + w.requests, errors: total.errors + w.errors };
      console.log(
        `  nonces ${ctx.kind}: ${(at + windowMs) / 1000} s  ${w.rps.toFixed(0)} req/s  p50 ${w.p50Ms.toFixed(1)} ` +
          `p99 ${w.p99Ms.toFixed(1)} ms  pay_nonces ${stats.rows} rows ${(stats.bytes / 2 ** 20).toFixed(1)} MiB  ` +
          `pruned ${stats.pruned} in ${stats.pruneCalls} calls (slowest ${stats.pruneMsMax.toFixed(1)} ms)`,
      );
    }
    const last = windows.at(-1)!; // onMs > 0: at least one window
    const maxRows = Math.max(...windows.map((w) => w.stats.rows));
    const pruningWindows = windows.filter((w) => w.stats.pruned > 0);
    const medianP99 = [...windows.map((w) => w.p99)].sort((a, b) => a - b)[Math.floor(windows.length / 2)]!;
    rows.push(
      row(ctx16, 'nonces.create-pruning', `nonces: create order, pruning on (${onMs / 1000} s, median window)`, {
        requests: total.requests,
        errors: total.errors,
        rps: windows.reduce((a, w) => a + w.rps, 0) / windows.length,
        p50Ms: NaN,
        p99Ms: medianP99,
      }),
      row(ctx16, 'nonces.create-pruning-worst', `nonces: worst window p99 while pruning`, {
        requests: pruningWindows.length,
        errors: 0,
        rps: NaN,
        p50Ms: NaN,
        p99Ms: Math.max(0, ...pruningWindows.map((w) => w.p99)),
      }),
    );
    console.log(
      `  nonces ${ctx.kind}: retention ${retentionMs / 1000} s; after ${onMs / 1000} s pay_nonces holds ` +
        `${last.stats.rows} rows, ${(last.stats.bytes / 2 ** 20).toFixed(1)} MiB (max ${maxRows}); worst window p99 ` +
        `${worstP99.toFixed(1)} ms; windows ${JSON.stringify(windows)}`,
    );
    return rows;
  } finally {
    await t.stop();
  }
};
