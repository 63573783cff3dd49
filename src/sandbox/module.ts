import type { FastifyRequest } from 'fastify';
import type { Mailer } from '../platform/mail.ts';
import { registerDevMailbox } from '../platform/mail.ts';
import type { ModuleParts } from '../platform/module.ts';
import { registerSandboxRoutes } from './routes.ts';

/**
 * The integrator's sandbox helpers (platform.md): the movable clock, funded payers, paying an order, and the dev
 * mailbox. Built only in sandbox mode; production has none of these routes.
 */
export function createSandboxModule(
  deps: Parameters<typeof registerSandboxRoutes>[1] & {
    mailer: Mailer;
    mode: string;
    /** The operator console's session of a request (src/admin/console/session.ts), which opens the mailbox too. */
    operatorSession: (req: FastifyRequest) => Promise<{ role: string } | null>;
  },
): ModuleParts {
  return {
    routes(app) {
      registerDevMailbox(app, {
        mailer: deps.mailer,
        adminToken: deps.adminToken,
        mode: deps.mode,
        operatorSession: deps.operatorSession,
      });
      registerSandboxRoutes(app, deps);
    },
  };
}
