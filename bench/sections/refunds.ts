import { isPaySuccess, runLoad, signedPayRequest } from '../lib/load.ts';
import { startTarget, targetInfo } from '../lib/spawn.ts';
import { row, type Section } from '../lib/types.ts';
import { FLOOR_ID } from './floor.ts';

/**
 * Binance Pay refunds on the real app: accepted refunds per second over the signed HTTP API (the load's concurrency,
 * 32 by default), then the time the outbox worker takes to complete every accepted refund (post the hold, move the
 * order
 * on). Refunds of one order serialize on its row lock, so they go round-robin over many orders paid beforehand;
 * each order takes at most 10 refunds (spec), so ORDERS × 10 bounds how many the load can send without errors.
 */
const ORDERS = Number(process.env.BENCH_REFUND_ORDERS ?? 400);
const RUN = Date.now().toString(36);

export const refunds: Section = async (ctx) => {
  const t = await startTarget('refunds', ctx.kind);
  try {
    const { baseUrl } = t.info;
    const apiKey = targetInfo(t, 'apiKey');
    const apiSecret = targetInfo(t, 'apiSecret');
    const { prepayIds, elapsedMs: prepMs } = await t.command<{ prepayIds: string[]; elapsedMs: number }>(
      'paid-orders',
      { count: ORDERS, amount: '10.00' },
    );
    let seq = 0;
    const accept = await runLoad(
      baseUrl,
      { ...ctx.load, serverPid: t.pid },
      () => {
        const n = seq++;
        const body = JSON.stringify({
          refundRequestId: `R${RUN}_${n}`,
          prepayId: prepayIds[n % prepayIds.length],
          refundAmount: '0.01',
          refundReason: 'bench',
        });
        return signedPayRequest('/binancepay/openapi/order/refund', apiKey, apiSecret, body);
      },
      (status, body) => isPaySuccess(status, body) && body.includes('"duplicateRequest":"N"'),
    );
    // Everything accepted (warm-up and the tail after the window included) is completed by the drain.
    const d = await t.command<{
      handled: number;
      elapsedMs: number;
      cpuMs: number;
      refunds: Record<string, number>;
      left: number;
      auditOk: boolean;
    }>('drain');
    const completed = d.refunds.SUCCESS ?? 0;
    const problems = [
      d.left ? `${d.left} refund rows not done` : '',
      d.refunds.PENDING ? `${d.refunds.PENDING} refunds still PENDING` : '',
      d.auditOk ? '' : 'ledger audit failed',
    ]
      .filter(Boolean)
      .join('; ');
    return [
      { ...row(ctx, 'pay.refund', 'Pay refund (accepted)', accept, FLOOR_ID), orders: ORDERS, prepMs },
      {
        ...row(ctx, 'pay.refund-complete', `Pay refund completion (outbox, ${completed})`, {
          requests: completed,
          errors: (d.refunds.PENDING ?? 0) + (d.auditOk ? 0 : 1),
          rps: (completed * 1000) / d.elapsedMs,
          p50Ms: NaN,
          p99Ms: NaN,
          serverCpuUsPerReq: completed ? (d.cpuMs * 1000) / completed : null,
          ...(problems ? { firstError: problems } : {}),
        }),
        concurrency: 1,
      },
    ];
  } finally {
    await t.stop();
  }
};
