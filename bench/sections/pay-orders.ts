import { isPaySuccess, runLoad, signedPayRequest } from '../lib/load.ts';
import { createOrderV3Body } from '../lib/pay.ts';
import { startTarget, targetInfo } from '../lib/spawn.ts';
import { row, type Section } from '../lib/types.ts';
import { FLOOR_ID } from './floor.ts';

/** Binance Pay orders on the real app: create-order v3, then query-order v2 over the orders just created. */
export const payOrders: Section = async (ctx) => {
  const t = await startTarget('app', ctx.kind);
  try {
    const { baseUrl } = t.info;
    const apiKey = targetInfo(t, 'apiKey');
    const apiSecret = targetInfo(t, 'apiSecret');
    const prepayIds: string[] = [];
    const create = await runLoad(
      baseUrl,
      { ...ctx.load, serverPid: t.pid },
      () => signedPayRequest('/binancepay/openapi/v3/order', apiKey, apiSecret, createOrderV3Body()),
      (status, body) => {
        if (!isPaySuccess(status, body)) return false;
        const m = /"prepayId":"(\d+)"/.exec(body);
        if (m && prepayIds.length < 100_000) prepayIds.push(m[1]!); // the group takes part in every match
        return true;
      },
    );
    if (prepayIds.length === 0) throw new Error(`create-order produced no orders: ${create.firstError}`);
    const query = await runLoad(
      baseUrl,
      { ...ctx.load, serverPid: t.pid },
      () => {
        const prepayId = prepayIds[Math.floor(Math.random() * prepayIds.length)]!; // non-empty: checked above
        return signedPayRequest('/binancepay/openapi/v2/order/query', apiKey, apiSecret, JSON.stringify({ prepayId }));
      },
      (status, body) => isPaySuccess(status, body) && body.includes('"status":"INITIAL"'),
    );
    return [
      row(ctx, 'pay.create-order-v3', 'Pay create order v3', create, FLOOR_ID),
      row(ctx, 'pay.query-order-v2', 'Pay query order v2', query, FLOOR_ID),
    ];
  } finally {
    await t.stop();
  }
};
