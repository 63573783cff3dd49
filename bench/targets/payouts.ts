import { randomAlnum } from '../../src/platform/crypto.ts';
import type { Db } from '../../src/platform/db/client.ts';
import { platformAccount } from '../../src/platform/ledger/service.ts';
import { createPayoutService } from '../../src/pay/payouts/service.ts';
import { merchantAccount } from '../../src/pay/wallets.ts';
import { timedDrain } from '../lib/load.ts';
import type { Target } from '../lib/server.ts';
import { bootApp } from './app.ts';

/**
 * The real app for the payout section, with commands (see server.ts):
 *   prepare {recipients, fund}   creates `recipients` verified payers and funds the bench merchant's funding wallet
 *                                 with `fund` USDT (services, not HTTP: preparation)
 *   drain {}                      runs the payout worker (the `pay-payouts` loop's tick) until nothing is due; times it
 * The merchant has no webhook URL, so finalizing queues no PAYOUT deliveries: the drain measures the step machine
 * (start, each detail settled in its own transaction, finalize).
 */
export async function startPayouts(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant } = await bootApp(db, port);
  const s = app.services;
  // The module's own worker is not started (bootApp runs no loops): the drain runs the same tick in this process.
  const payouts = createPayoutService({
    ...s,
    subMerchants: { isActive: async () => false },
    publicUrl: baseUrl,
    mode: 'sandbox',
  });
  return {
    info: { baseUrl, apiKey: merchant.apiKey, apiSecret: merchant.apiSecret, merchantId: merchant.merchantId },
    close: async () => {
      await server.close();
      await app.stopWorkers();
    },
    commands: {
      async prepare({ recipients, fund }: { recipients: number; fund: string }) {
        const payerIds: string[] = [];
        for (let i = 0; i < recipients; i++) {
          const p = await s.payers.create({
            email: `bench-${randomAlnum(12).toLowerCase()}@bench.example`,
            balances: {},
          });
          if (!p.ok) throw new Error(`create payer: ${p.code}`);
          payerIds.push(p.value.payerId);
        }
        await db.tx((q) =>
          s.ledger.transfer(q, {
            id: `bench-fund:${merchant.merchantId}:${randomAlnum(8)}`,
            debit: platformAccount('sandbox_mint', 'USDT'),
            credit: merchantAccount(merchant.merchantId, 'FUNDING_WALLET', 'USDT'),
            amount: fund,
            kind: 'sandbox.fund',
          }),
        );
        return { payerIds };
      },

      async drain() {
        const drained = await timedDrain(() => payouts.runOnce());
        const count = async (table: string) =>
          Object.fromEntries(
            (await db.query(`SELECT status, count(*) AS n FROM ${table} GROUP BY status`)).rows.map((r) => [
              r.status,
              Number(r.n),
            ]),
          );
        const audit = await s.ledger.audit();
        return {
          ...drained,
          batches: await count('pay_payout_batches'),
          details: await count('pay_payout_details'),
          auditOk: audit.ok,
        };
      },
    },
  };
}
