import { isPaySuccess, runLoad, signedPayRequest } from '../lib/load.ts';
import { startTarget, targetInfo } from '../lib/spawn.ts';
import { row, type BenchRow, type Section } from '../lib/types.ts';
import { FLOOR_ID } from './floor.ts';

/**
 * Direct debit on the real app: `/pay/apply` accepted per second over the signed HTTP API against one contract (every
 * debit locks the same contract row, where its limits are checked: the worst case) and round-robin over many contracts
 * (the common case), then the worker's drain of every accepted debit (its order paid from the signer's balance),
 * reported as debits paid per second.
 */
const CONTRACTS = Number(process.env.BENCH_DD_CONTRACTS ?? 200);
const PAYERS = 20;
const RUN = Date.now().toString(36);

export const directDebit: Section = async (ctx) => {
  const t = await startTarget('directdebit', ctx.kind);
  try {
    const { baseUrl } = t.info;
    const apiKey = targetInfo(t, 'apiKey');
    const apiSecret = targetInfo(t, 'apiSecret');
    const { contractIds } = await t.command<{ contractIds: string[] }>('prepare', {
      contracts: CONTRACTS,
      payers: PAYERS,
      fund: '100000000',
    });
    let seq = 0;
    const load = (pick: (n: number) => string) =>
      runLoad(
        baseUrl,
        { ...ctx.load, serverPid: t.pid },
        () => {
          const n = seq++;
          const body = JSON.stringify({
            merchantRequestId: `D${RUN}x${n}`,
            tradeMode: 'DIRECT_DEBIT',
            bizId: pick(n),
            amount: '0.01',
            currency: 'USDT',
            productName: 'bench',
          });
          return signedPayRequest('/binancepay/openapi/pay/apply', apiKey, apiSecret, body);
        },
        (status, body) => isPaySuccess(status, body) && body.includes('"status":"PROCESSING"'),
      );
    const one = await load(() => contractIds[0]!);
    const many = await load((n) => contractIds[n % contractIds.length]!);
    // Everything accepted (warm-up and the tail after the windows included) is paid by the drain.
    const d = await t.command<{
      elapsedMs: number;
      cpuMs: number;
      steps: Record<string, number>;
      auditOk: boolean;
    }>('drain');
    const paid = d.steps.SUCCESS ?? 0;
    const open = (d.steps.ORDERING ?? 0) + (d.steps.PROCESSING ?? 0);
    const problems = [
      open ? `${open} debits not final` : '',
      d.steps.FAILED ? `${d.steps.FAILED} debits failed` : '',
      d.auditOk ? '' : 'ledger audit failed',
    ]
      .filter(Boolean)
      .join('; ');
    const rows: BenchRow[] = [
      row(ctx, 'pay.dd-apply-one', 'Pay direct debit /pay/apply, one contract (accepted)', one, FLOOR_ID),
      row(ctx, 'pay.dd-apply-many', `Pay direct debit /pay/apply, ${CONTRACTS} contracts (accepted)`, many, FLOOR_ID),
      {
        ...row(
          ctx,
          'pay.dd-apply-settle',
          `Pay direct debits paid/s (worker, ${paid})`,
          {
            requests: paid,
            errors: (d.steps.FAILED ?? 0) + open + (d.auditOk ? 0 : 1),
            rps: (paid * 1000) / d.elapsedMs,
            p50Ms: NaN,
            p99Ms: NaN,
            serverCpuUsPerReq: paid ? (d.cpuMs * 1000) / paid : null,
            ...(problems ? { firstError: problems } : {}),
          },
          FLOOR_ID,
        ),
        concurrency: 1,
      },
    ];
    return rows;
  } finally {
    await t.stop();
  }
};
