import { randomAlnum } from '../../src/platform/crypto.ts';
import type { Db } from '../../src/platform/db/client.ts';
import { createDirectDebitService } from '../../src/pay/directdebit/service.ts';
import { timedDrain } from '../lib/load.ts';
import type { Target } from '../lib/server.ts';
import { bootApp } from './app.ts';

/**
 * The real app for the direct-debit section, with commands (see server.ts):
 *   prepare {contracts, payers, fund}  signs `contracts` on-demand contracts of the bench merchant (1000 USDT per
 *                                      debit), round-robin over `payers` payers holding `fund` USDT each (services,
 *                                      not HTTP: preparation)
 *   drain {}                           runs the direct-debit worker (the `pay-direct-debit` loop's tick) until
 *                                      nothing is due: every accepted debit's order paid from its signer; times it
 * The merchant has no webhook URL, so no PAY or DIRECT_DEBIT_CT deliveries are queued.
 */
export async function startDirectDebit(db: Db, port: number): Promise<Target> {
  const { app, server, baseUrl, merchant } = await bootApp(db, port);
  const s = app.services;
  // The module's own worker is not started (bootApp runs no loops): the drain runs the same tick in this process.
  const dd = createDirectDebitService({
    ...s,
    subMerchants: { isActive: async () => false, face: async () => null },
    openIdSalt: 'bench',
    publicUrl: baseUrl,
    mode: 'sandbox',
    maxOrderExpireMs: 15 * 24 * 3_600_000,
    limitUsd: '10000',
  });
  const actor = { merchantId: merchant.merchantId, creatorMerchantId: merchant.merchantId };
  return {
    info: { baseUrl, apiKey: merchant.apiKey, apiSecret: merchant.apiSecret, merchantId: merchant.merchantId },
    close: async () => {
      await server.close();
      await app.stopWorkers();
    },
    commands: {
      async prepare({ contracts, payers, fund }: { contracts: number; payers: number; fund: string }) {
        const payerIds: string[] = [];
        for (let i = 0; i < payers; i++) {
          const p = await s.payers.create({
            email: `bench-${randomAlnum(12).toLowerCase()}@bench.example`,
            balances: { USDT: fund },
          });
          if (!p.ok) throw new Error(`create payer: ${p.code}`);
          payerIds.push(p.value.payerId);
        }
        const contractIds: string[] = [];
        for (let i = 0; i < contracts; i++) {
          const c = await dd.create(actor, {
            merchantContractCode: `B${randomAlnum(12)}${i}`,
            serviceName: 'Bench',
            scenarioCode: 'Others',
            singleUpperLimit: '1000',
            currency: 'USDT',
            periodic: false,
          });
          if (!c.ok) throw new Error(`create contract: ${c.code} ${c.message}`);
          const signed = await dd.sign(c.value.preContractId, payerIds[i % payers]!);
          if (!signed.ok) throw new Error(`sign contract: ${signed.code}`);
          contractIds.push(signed.value.contractId!);
        }
        return { contractIds };
      },

      async drain() {
        const drained = await timedDrain(() => dd.runOnce());
        const steps = Object.fromEntries(
          (await db.query(`SELECT step, count(*) AS n FROM pay_dd_debits GROUP BY step`)).rows.map((r) => [
            r.step,
            Number(r.n),
          ]),
        );
        const audit = await s.ledger.audit();
        return { ...drained, steps, auditOk: audit.ok };
      },
    },
  };
}
