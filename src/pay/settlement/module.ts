import { describeError } from '../../platform/errors.ts';
import { createHotWalletOperations } from '../../chain/hotwallet.ts';
import { sha256Hex } from '../../platform/crypto.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import { registerSettlementAdminRoutes } from './routes.ts';
import { createSettlementService, SETTLEMENT_WITHDRAWAL_TOPIC, type SettlementService } from './service.ts';
import type { WithdrawalSettledEvent } from '../../chain/withdrawals.ts';

/**
 * Merchant settlement (issue #16): whitelisted withdrawal addresses, withdrawals of the available balance and
 * automatic settlement, each through the chain's withdrawal machine; the operator's admin API and the `pay-settlement`
 * worker (automatic runs, resuming and following open settlements), and the operator's hot wallet view
 * (GET /admin/v1/chain/hot-wallets). The dashboard pages are in src/dashboard/settlement.ts.
 */
export function createSettlementModule(deps: PayExtensionDeps): PayExtension & { settlement: SettlementService } {
  const settlement = createSettlementService({
    db: deps.db,
    clock: deps.clock,
    ids: deps.ids,
    ledger: deps.ledger,
    mailer: deps.mailer,
    chain: deps.chain,
    codeKey: sha256Hex(`settlement-codes:${deps.openIdSalt}`),
    merchantExists: async (id) => /^\d{1,19}$/.test(id) && (await deps.accounts.getMerchant(id)) !== null,
    merchantActive: async (id) => (await deps.accounts.getMerchant(id))?.status === 'ACTIVE',
  });
  const hotWallets = createHotWalletOperations({
    db: deps.db,
    ledger: deps.ledger,
    // The operator asks where to send funds before anything has used a chain: start the configured ones first.
    reconcile: async () => {
      const failed = await deps.chain.start().then(
        () => null,
        (e: unknown) => describeError(e, 'shortMessage', 'message').slice(0, 300),
      );
      const r = await deps.chain.reconcileHotWallets();
      return failed ? { ...r, problems: [...r.problems, `the chains could not be started: ${failed}`] } : r;
    },
  });
  return {
    settlement,
    routes(app) {
      registerSettlementAdminRoutes(app, { settlement, adminToken: deps.adminToken, hotWallets });
    },
    outboxHandlers: {
      [SETTLEMENT_WITHDRAWAL_TOPIC]: async (row) => {
        await settlement.onWithdrawalSettled(row.payload as WithdrawalSettledEvent);
        return { status: 'done' };
      },
    },
    workers: [{ name: 'pay-settlement', tick: () => settlement.runOnce(), idleMs: (base) => Math.max(base, 500) }],
  };
}
