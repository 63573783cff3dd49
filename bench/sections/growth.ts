import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPaySuccess, runLoad, signedPayRequest } from '../lib/load.ts';
import { startTarget, targetInfo } from '../lib/spawn.ts';
import { row, type BenchRow, type Section } from '../lib/types.ts';
import { GROWTH_LIST_PATH, GROWTH_REPORT_PATH } from '../targets/growth.ts';

/**
 * Growth (issue 20; opt-in: BENCH_SECTIONS=growth, PostgreSQL only). One database bulk-loaded in SQL to 10,000 orders,
 * measured, then to 10,000,000 orders, measured again (see bench/targets/growth.ts for the layout). At each size, after
 * VACUUM ANALYZE, the same signed load (16 in flight, BENCH_GROWTH_MS per row, 10 s by default) for query-order v2 over
 * the bench merchant's orders (its whole history), the merchant's order list (200 newest) and its daily report
 * (yesterday, 100 orders); then one timed ledger audit (full, incremental from scratch, incremental since a
 * checkpoint).
 * EXPLAIN ANALYZE of each statement, the load and audit details at each size go to bench/results/growth.json.
 * BENCH_GROWTH_PHASES=1 measures the 10,000 size only (a quick check of the section).
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIZES: Record<number, string> = { 1: '10k', 2: '10M' };

export const growth: Section = async (ctx) => {
  if (ctx.kind !== 'pg') {
    console.log('  growth: PostgreSQL only, skipped on PGlite');
    return [];
  }
  const durationMs = Number(process.env.BENCH_GROWTH_MS ?? 10_000);
  const phases = (process.env.BENCH_GROWTH_PHASES ?? '1,2').split(',').map(Number);
  const load = { concurrency: 16, warmupMs: 2000, durationMs };
  const t = await startTarget('growth', ctx.kind);
  const rows: BenchRow[] = [];
  const details: Record<string, unknown> = {};
  try {
    const apiKey = targetInfo(t, 'apiKey');
    const apiSecret = targetInfo(t, 'apiSecret');
    const side = targetInfo(t, 'sideUrl');
    for (const phase of phases) {
      const size = SIZES[phase] ?? String(phase);
      const loaded = await t.command('load', { phase });
      console.log(`  growth ${size}: loaded ${JSON.stringify(loaded)}`);
      const prepayIds = await t.command<string[]>('sample', { n: 5000 });
      const ctx16 = { ...ctx, load };
      const query = await runLoad(
        t.info.baseUrl,
        { ...load, serverPid: t.pid },
        () => {
          const prepayId = prepayIds[Math.floor(Math.random() * prepayIds.length)]!; // sampled above, non-empty
          return signedPayRequest(
            '/binancepay/openapi/v2/order/query',
            apiKey,
            apiSecret,
            JSON.stringify({ prepayId }),
          );
        },
        (status, body) => isPaySuccess(status, body) && body.includes('"prepayId"'),
      );
      const list = await runLoad(
        side,
        { ...load, serverPid: t.pid },
        () => signedPayRequest(GROWTH_LIST_PATH, apiKey, apiSecret, '{}'),
        (status, body) => isPaySuccess(status, body) && body.includes('"count":200'),
      );
      const report = await runLoad(
        side,
        { ...load, serverPid: t.pid },
        () => signedPayRequest(GROWTH_REPORT_PATH, apiKey, apiSecret, '{}'),
        (status, body) => isPaySuccess(status, body) && body.includes('"rows":50'),
      );
      const audit = await t.command('audit');
      console.log(`  growth ${size}: audit ${JSON.stringify(audit)}`);
      const explain = await t.command('explain');
      const sizes = await t.command('sizes');
      details[size] = { loaded, audit, explain, sizes };
      rows.push(
        row(ctx16, `growth.query-order-${size}`, `growth ${size}: query order v2`, query),
        row(ctx16, `growth.order-list-${size}`, `growth ${size}: order list (200)`, list),
        row(ctx16, `growth.daily-report-${size}`, `growth ${size}: daily report`, report),
        {
          ...row(ctx16, `growth.audit-${size}`, `growth ${size}: ledger audit (ms, 1 run)`, {
            requests: 1,
            errors: audit.full.ok ? 0 : 1,
            rps: NaN,
            p50Ms: audit.fullMs,
            p99Ms: audit.fullMs,
          }),
        },
        {
          ...row(ctx16, `growth.audit-incremental-${size}`, `growth ${size}: incremental audit since checkpoint`, {
            requests: 1,
            errors: audit.since.ok ? 0 : 1,
            rps: NaN,
            p50Ms: audit.incrementalSinceCheckpointMs,
            p99Ms: audit.incrementalSinceCheckpointMs,
          }),
        },
      );
    }
  } finally {
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', 'growth.json'), JSON.stringify(details, null, 2) + '\n');
    await t.stop();
  }
  return rows;
};
