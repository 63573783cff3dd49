import type { AccountsService } from '../accounts/service.ts';
import type { Clock } from '../platform/clock.ts';
import { sha256Hex, type SecretBox } from '../platform/crypto.ts';
import type { Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { ModuleParts } from '../platform/module.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import { createKycWebhookFamily, KYC_FAMILY } from './notify.ts';
import { loadQuestionnaires } from './questionnaires.ts';
import { registerKycRoutes } from './routes.ts';
import { createKycService, SHARE_TOPIC } from './service.ts';

/**
 * KYC Sharing: the signed broker endpoints, the operator's broker and review API, shares and checks (outbox), the
 * USER-STATUS webhook family, and the document downloads in their own outbox slots (each up to 30 s per file, hence the
 * longer lease), so they never hold up webhooks or mail.
 */
export function createKycModule(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  box: SecretBox;
  outbox: Outbox;
  logger: Logger;
  secretsKey: string;
  mode: 'sandbox' | 'production';
  allowPrivateTargets: boolean;
  adminToken: string;
  /** Payers: the sandbox KYC decision also verifies payout e-mail recipients (binance-pay-extended.md §18.5). */
  accounts?: Pick<AccountsService, 'setPayerKycStatus'>;
}) {
  const { db, clock, ids, box, outbox, mode } = deps;
  const kyc = createKycService({
    db,
    clock,
    ids,
    box,
    outbox,
    templates: loadQuestionnaires(),
    fingerprintKey: sha256Hex(`kyc-id-number:${deps.secretsKey}`),
    mode,
    allowPrivateTargets: deps.allowPrivateTargets,
  });
  const parts: ModuleParts = {
    webhookFamilies: { [KYC_FAMILY]: createKycWebhookFamily({ db, box }) },
    outboxHandlers: kyc.outboxHandlers,
    outboxClasses: [{ name: 'kyc-files', topics: [SHARE_TOPIC], slots: 4, leaseMs: 180_000 }],
    routes(app) {
      registerKycRoutes(app, { kyc, adminToken: deps.adminToken, mode, logger: deps.logger, accounts: deps.accounts });
    },
  };
  return { kyc, parts };
}
