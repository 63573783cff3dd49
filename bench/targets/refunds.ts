import type { Db } from '../../src/platform/db/client.ts';
import { randomAlnum } from '../../src/platform/crypto.ts';
import { REFUND_TOPIC } from '../../src/pay/refunds/service.ts';
import { timedDrain } from '../lib/load.ts';
import type { Target } from '../lib/server.ts';
import { bootApp } from './app.ts';

/**
 * The real app for the refund section, with commands (see server.ts):
 *   paid-orders {count, amount}   creates and pays `count` orders of the bench merchant (services, not HTTP:
 * preparation)
 *   drain {}                      runs the app's outbox worker until nothing is due (refund completion); times it
 * The merchant has no webhook URL, so completion queues no PAY_REFUND deliveries: the drain measures the refund
 * handler.
 */
export async function startRefunds(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant } = await bootApp(db, port);
  const { orders, payers, ledger } = app.services;
  const actor = { merchantId: merchant.merchantId, creatorMerchantId: merchant.merchantId };
  return {
    info: { baseUrl, apiKey: merchant.apiKey, apiSecret: merchant.apiSecret, merchantId: merchant.merchantId },
    close: async () => {
      await server.close();
      await app.stopWorkers();
    },
    commands: {
      async 'paid-orders'({ count, amount }: { count: number; amount: string }) {
        const payer = await payers.create({
          email: `bench-${randomAlnum(12).toLowerCase()}@bench.example`,
          balances: { USDT: String(Number(amount) * count + 1) },
        });
        if (!payer.ok) throw new Error(`create payer: ${payer.code}`);
        const prepayIds: string[] = [];
        let next = 0;
        const t0 = performance.now();
        // A few at a time: PostgreSQL gets some parallelism, PGlite (one connection) just queues.
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < count) {
              const n = next++;
              const o = await orders.create(actor, {
                apiVersion: 'v3',
                merchantTradeNo: `R${randomAlnum(10)}${n}`,
                terminalType: 'WEB',
                currency: 'USDT',
                orderAmount: amount,
                goods: [
                  { goodsType: '01', goodsCategory: 'D000', referenceGoodsId: '7876763A3B', goodsName: 'Ice Cream' },
                ],
                productType: '01',
                productName: 'Ice Cream',
              });
              if (!o.ok) throw new Error(`create order: ${o.code}`);
              const paid = await orders.pay(o.value.prepayId, payer.value.payerId);
              if (!paid.ok) throw new Error(`pay order: ${paid.code}`);
              prepayIds.push(o.value.prepayId);
            }
          }),
        );
        return { prepayIds, elapsedMs: performance.now() - t0 };
      },

      async drain() {
        const drained = await timedDrain(() => app.outboxWorker.runOnce());
        const refunds = Object.fromEntries(
          (await db.query(`SELECT status, count(*) AS n FROM pay_refunds GROUP BY status`)).rows.map((r) => [
            r.status,
            Number(r.n),
          ]),
        );
        const left = Number(
          (await db.query(`SELECT count(*) AS n FROM outbox WHERE topic = $1 AND status <> 'DONE'`, [REFUND_TOPIC]))
            .rows[0].n,
        );
        const audit = await ledger.audit();
        return { ...drained, refunds, left, auditOk: audit.ok };
      },
    },
  };
}
