import { statementSources } from '../reports/service.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import { NO_PAYOUTS, type PayoutReportSource } from './files.ts';
import { registerFileRoutes, registerStatementPayRoutes } from './routes.ts';
import { createStatementService } from './service.ts';

export type { PayoutReportRow, PayoutReportSource } from './files.ts';

/**
 * Reports (binance-pay-extended.md §13): the three signed endpoints in the Pay family, the file download route, and
 * the balance-report worker. Orders and refunds are read through the Pay reports service; payout rows come from the
 * payout area (`payouts`), without which the T_Payout files are empty.
 */
export function createStatementModule(deps: PayExtensionDeps & { payouts?: PayoutReportSource }): PayExtension & {
  statements: ReturnType<typeof createStatementService>;
} {
  const statements = createStatementService({
    db: deps.db,
    clock: deps.clock,
    ids: deps.ids,
    ledger: deps.ledger,
    outbox: deps.outbox,
    accounts: deps.accounts,
    logger: deps.logger,
    publicUrl: deps.config.publicUrl,
    orders: statementSources,
    payouts: deps.payouts ?? NO_PAYOUTS,
  });
  return {
    statements,
    payRoutes: (route) => registerStatementPayRoutes(route, { statements }),
    routes: (app) => registerFileRoutes(app, { statements }),
    workers: [{ name: 'pay-balance-reports', tick: () => statements.runDue() }],
  };
}
