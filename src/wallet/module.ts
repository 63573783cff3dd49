import type { AccountsService, Sessions } from '../accounts/service.ts';
import type { ChainService } from '../chain/service.ts';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import type { Mailer } from '../platform/mail.ts';
import type { ModuleParts } from '../platform/module.ts';
import { registerWalletRoutes } from './routes.ts';
import { createWalletWithdrawals } from './withdrawals.ts';

/**
 * The person's wallet pages (issue #16): balances, deposit addresses with QR codes and live confirmations, deposit
 * history, withdrawals to an external address confirmed with an e-mail code (the step machine in withdrawals.ts,
 * resumed by the `wallet-withdrawals` worker).
 */
export function createWalletModule(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  ledger: Ledger;
  chain: ChainService;
  accounts: AccountsService;
  sessions: Sessions;
  mailer: Mailer;
  publicUrl: string;
  mode: 'sandbox' | 'production';
  codeKey: string;
}): ModuleParts & { withdrawals: ReturnType<typeof createWalletWithdrawals> } {
  const withdrawals = createWalletWithdrawals(deps);
  return {
    withdrawals,
    routes: (app) => registerWalletRoutes(app, { ...deps, withdrawals }),
    workers: [{ name: 'wallet-withdrawals', tick: () => withdrawals.runOnce() }],
  };
}
