import { Decimal } from '../../src/platform/money.ts';

/**
 * /payout/transfer bodies for the payout tests: a detail (BINANCE_ID, 1 USDT from the funding wallet unless
 * overridden) and a batch whose totals are always consistent with its details. `receiver` is read when a detail is
 * made (the payee is created in the suite's `before`).
 */
export function payoutBodies(o: {
  receiver: () => string;
  batchName: string;
  sendPrefix: string;
  requestId: () => string;
}) {
  let sendId = 0;
  const detail = (x: Record<string, unknown> = {}) => ({
    merchantSendId: `${o.sendPrefix}${++sendId}`,
    receiveType: 'BINANCE_ID',
    receiver: o.receiver(),
    transferAmount: '1',
    transferMethod: 'FUNDING_WALLET',
    ...x,
  });
  function batch(details: Record<string, unknown>[], x: Record<string, unknown> = {}) {
    const total = details.reduce((s: Decimal, d) => s.plus(String(d.transferAmount)), new Decimal(0));
    return {
      requestId: o.requestId(),
      batchName: o.batchName,
      currency: 'USDT',
      totalAmount: total.toFixed(),
      totalNumber: details.length,
      transferDetailList: details,
      ...x,
    };
  }
  return { detail, batch };
}
