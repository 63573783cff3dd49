import type { AccountsService, Sessions } from './service.ts';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Mailer } from '../platform/mail.ts';
import type { ModuleParts } from '../platform/module.ts';
import { registerPeopleRoutes } from './routes.ts';
import { createSignup } from './signup.ts';

/**
 * A person's account (issue #16): sign-up with an e-mail code and a password, log in and out; one account for
 * paying checkouts, holding funds and buying crypto (people.ts).
 */
export function createPersonAccountsModule(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  accounts: AccountsService;
  sessions: Sessions;
  mailer: Mailer;
  publicUrl: string;
  mode: 'sandbox' | 'production';
  codeKey: string;
}): ModuleParts {
  const signup = createSignup(deps);
  return {
    routes(app) {
      registerPeopleRoutes(app, { ...deps, signup });
    },
  };
}
