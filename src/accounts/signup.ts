import type { Clock } from '../platform/clock.ts';
import { hashPassword } from '../platform/crypto.ts';
import type { Db, Queryable } from '../platform/db/client.ts';
import { err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Mailer } from '../platform/mail.ts';
import {
  CONSENT_VERSION,
  createCodes,
  insertAccount,
  normalizeIdentifier,
  passwordProblem,
  payerIdOfUser,
} from './people.ts';

/**
 * A person's sign-up at /signup (issue #16): the e-mail, then the 6-digit code sent to it, then a password. The
 * browser's place in it is a server-side session whose subject is the step (SIGNUP_SUBJECT), so a form posted at
 * another step is refused before anything runs (SIGNUP_FORMS), and every use case checks the account again in the
 * transaction that acts.
 *
 * An account is claimed only by proving the e-mail: an unverified account (a sign-up left before its password, or a
 * buy-flow sign-up that never entered its code) may be started again by anyone, but the password is chosen only after
 * the code, in the same browser session, and verified_at is written with it. A verified account is never touched here.
 */
export const SIGNUP_STEPS = ['EMAIL', 'CODE', 'PASSWORD'] as const;
export type SignupStep = (typeof SIGNUP_STEPS)[number];
export type SignupForm = 'email' | 'code' | 'resend' | 'password' | 'restart';

/** The forms, and the steps each applies in. */
export const SIGNUP_FORMS: Record<SignupForm, readonly SignupStep[]> = {
  email: ['EMAIL'],
  code: ['CODE'],
  resend: ['CODE'],
  password: ['PASSWORD'],
  restart: ['CODE', 'PASSWORD'],
};
/** The session subject that stands for each step after the first (the subject id is the account). */
export const SIGNUP_SUBJECT: Record<Exclude<SignupStep, 'EMAIL'>, string> = {
  CODE: 'signup_code',
  PASSWORD: 'signup_password',
};

const ALREADY =
  'An account with this e-mail is already set up. Log in instead (or ask for a new password in the buy flow).';

export function createSignup(deps: { db: Db; clock: Clock; ids: IdGenerator; mailer: Mailer; codeKey: string }) {
  const { db, clock } = deps;
  const codes = createCodes({ ...deps, brand: 'Rampart' });

  /** The account row, locked; refused when it is already verified (the sign-up cannot touch it). */
  async function lockUnverified(q: Queryable, userId: string): Promise<Result<{ id: string; identifier: string }>> {
    const u = (
      await q.query(`SELECT id, identifier, verified_at FROM buyflow_users WHERE id = $1 FOR UPDATE`, [userId])
    ).rows[0];
    if (!u) return err('USER_NOT_FOUND', 'This sign-up has expired. Start again.');
    if (u.verified_at !== null) return err('ACCOUNT_EXISTS', ALREADY);
    return ok({ id: String(u.id), identifier: u.identifier });
  }

  return {
    /**
     * The e-mail step: the account (with its payer profile) is created without a password if there is none, and a
     * code is sent. A code sent less than a minute ago still counts: the person goes on to enter it.
     */
    async start(email: string): Promise<Result<{ userId: string; email: string; sent: boolean }>> {
      const e = normalizeIdentifier('email', email);
      if (!e.ok) return e;
      return db.tx(async (q) => {
        const now = clock.now();
        let found = (await q.query(`SELECT id FROM buyflow_users WHERE identifier = $1 FOR UPDATE`, [e.value])).rows[0];
        if (!found) {
          const made = await insertAccount(q, {
            kind: 'email',
            identifier: e.value,
            passwordHash: null,
            verifiedAt: null,
            now,
          });
          // A concurrent sign-up of the same e-mail inserted first: carry on with its account.
          found = made
            ? { id: made.userId }
            : (await q.query(`SELECT id FROM buyflow_users WHERE identifier = $1 FOR UPDATE`, [e.value])).rows[0];
        }
        const account = await lockUnverified(q, String(found.id));
        if (!account.ok) return account;
        const sent = await codes.send(q, account.value);
        if (!sent.ok && sent.code !== 'RESEND_TOO_SOON') return sent;
        return ok({ userId: account.value.id, email: e.value, sent: sent.ok });
      });
    },

    async resend(userId: string): Promise<Result<{ sentTo: string }>> {
      return db.tx(async (q) => {
        const account = await lockUnverified(q, userId);
        return account.ok ? codes.send(q, account.value) : account;
      });
    },

    /** The code step: the latest code, checked and consumed (wrong entries are counted and kept). */
    async proveCode(userId: string, code: string): Promise<Result<null>> {
      return db.tx(async (q) => {
        const account = await lockUnverified(q, userId);
        return account.ok ? codes.check(q, userId, String(code ?? '').trim()) : account;
      });
    },

    /**
     * The password step, after the code: the password and the consent are written with verified_at in one
     * statement; the account's payer profile id is returned for the session.
     */
    async finish(userId: string, input: { password: string; terms: boolean }): Promise<Result<{ payerId: string }>> {
      const password = String(input.password ?? '');
      const bad = passwordProblem(password);
      if (bad) return err('WEAK_PASSWORD', bad);
      if (!input.terms) return err('CONSENT_REQUIRED', "Please agree to Rampart's Terms of Use and Privacy Policy.");
      const hash = await hashPassword(password);
      return db.tx(async (q) => {
        const account = await lockUnverified(q, userId);
        if (!account.ok) return account;
        const now = clock.now();
        await q.query(
          `UPDATE buyflow_users SET password_hash = $2, verified_at = $3, consent_version = $4,
            consent_at = COALESCE(consent_at, $3) WHERE id = $1`,
          [userId, hash, now, CONSENT_VERSION],
        );
        const payerId = await payerIdOfUser(q, userId);
        if (!payerId) throw new Error(`e-mail account ${userId} has no payer profile`);
        return ok({ payerId });
      });
    },

    /** The account's e-mail, for the pages. */
    async emailOf(userId: string): Promise<string | null> {
      if (!/^\d{1,19}$/.test(userId)) return null;
      return (
        (await db.query(`SELECT identifier FROM buyflow_users WHERE id = $1`, [userId])).rows[0]?.identifier ?? null
      );
    },
  };
}
export type Signup = ReturnType<typeof createSignup>;
