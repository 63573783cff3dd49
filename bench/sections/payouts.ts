import { isPaySuccess, runLoad, signedPayRequest } from '../lib/load.ts';
import { startTarget, targetInfo } from '../lib/spawn.ts';
import { row, type Section } from '../lib/types.ts';
import { FLOOR_ID } from './floor.ts';

/**
 * Batch payout on the real app: `/payout/transfer` with 10 details (BINANCE_ID recipients, all verified), accepted
 * batches per second over the signed HTTP API (each accept reserves the 10 details in its transaction), then the
 * payout worker's drain of every accepted batch, reported as details settled per second (each detail its own
 * transaction: hold posted, escrow → payer), beside the floor.
 */
const DETAILS = 10;
const RUN = Date.now().toString(36);

export const payouts: Section = async (ctx) => {
  const t = await startTarget('payouts', ctx.kind);
  try {
    const { baseUrl } = t.info;
    const apiKey = targetInfo(t, 'apiKey');
    const apiSecret = targetInfo(t, 'apiSecret');
    const { payerIds } = await t.command<{ payerIds: string[] }>('prepare', { recipients: DETAILS, fund: '100000000' });
    const details = payerIds.map((receiver, i) => ({
      merchantSendId: `d${i}`,
      receiveType: 'BINANCE_ID',
      receiver,
      transferAmount: '0.01',
      transferMethod: 'FUNDING_WALLET',
    }));
    let seq = 0;
    const accept = await runLoad(
      baseUrl,
      { ...ctx.load, serverPid: t.pid },
      () => {
        const body = JSON.stringify({
          requestId: `B${RUN}x${seq++}`,
          batchName: 'bench',
          currency: 'USDT',
          totalAmount: (0.01 * DETAILS).toFixed(2),
          totalNumber: DETAILS,
          transferDetailList: details,
        });
        return signedPayRequest('/binancepay/openapi/payout/transfer', apiKey, apiSecret, body);
      },
      (status, body) => isPaySuccess(status, body) && body.includes('"status":"ACCEPTED"'),
    );
    // Everything accepted (warm-up and the tail after the window included) is settled by the drain.
    const d = await t.command<{
      handled: number;
      elapsedMs: number;
      cpuMs: number;
      batches: Record<string, number>;
      details: Record<string, number>;
      auditOk: boolean;
    }>('drain');
    const settled = d.details.SUCCESS ?? 0;
    const open = (d.batches.ACCEPTED ?? 0) + (d.batches.PROCESSING ?? 0);
    const problems = [
      open ? `${open} batches not final` : '',
      d.details.FAIL ? `${d.details.FAIL} details failed` : '',
      d.auditOk ? '' : 'ledger audit failed',
    ]
      .filter(Boolean)
      .join('; ');
    return [
      { ...row(ctx, 'pay.payout-transfer', `Pay payout, ${DETAILS} details (accepted batches)`, accept, FLOOR_ID) },
      {
        ...row(
          ctx,
          'pay.payout-settle',
          `Pay payout details settled/s (worker, ${settled})`,
          {
            requests: settled,
            errors: (d.details.FAIL ?? 0) + open + (d.auditOk ? 0 : 1),
            rps: (settled * 1000) / d.elapsedMs,
            p50Ms: NaN,
            p99Ms: NaN,
            serverCpuUsPerReq: settled ? (d.cpuMs * 1000) / settled : null,
            ...(problems ? { firstError: problems } : {}),
          },
          FLOOR_ID,
        ),
        concurrency: 1,
      },
    ];
  } finally {
    await t.stop();
  }
};
