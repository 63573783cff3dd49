import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AccountsService, Sessions } from '../../accounts/service.ts';
import { PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT, payerCookieOptions } from '../../accounts/people.ts';
import { createPageHelper, csrfCookie, formText, parseForm } from '../../web/page.ts';

/**
 * What the payer pages of these areas (share account consent, merchant QR scan) share with the hosted checkout: the
 * payer's session cookie (set here by their own login form, read by checkout and wallet alike), a double-submit CSRF
 * cookie scoped to the page family's path, and the page helper.
 */
const LoginForm = z.object({ email: formText, password: formText });
export const BAD_TOKEN = 'Invalid form token; reload the page.';

export function createPayerPages(deps: {
  accounts: AccountsService;
  sessions: Sessions;
  mode: string;
  publicUrl: string;
  /** The CSRF cookie's name and path (the pages' URL prefix). */
  csrf: { cookie: string; path: string };
}) {
  const secure = deps.publicUrl.startsWith('https://');
  const pages = createPageHelper({ mode: deps.mode, sessions: deps.sessions });
  const csrf = csrfCookie({ ...deps.csrf, secure, field: 'csrf', sameSite: 'strict' });
  return {
    pages,
    csrf,
    async payerOf(req: FastifyRequest) {
      const s = await pages.session(req, PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT);
      return s ? deps.accounts.getPayer(s.subjectId) : null;
    },
    /** The login form's post: the session cookie set, or the message to show. */
    async login(req: FastifyRequest, reply: FastifyReply): Promise<{ ok: true } | { ok: false; message: string }> {
      const form = parseForm(LoginForm, req);
      if (!form.ok) return form;
      const res = await deps.accounts.authenticatePayer(form.value.email ?? '', form.value.password ?? '');
      if (!res.ok) return { ok: false, message: 'Wrong email or password.' };
      const s = await deps.sessions.create(PAYER_SESSION_SUBJECT, String(res.value.payerId));
      reply.setCookie(PAYER_SESSION_COOKIE, s.cookie, payerCookieOptions(secure));
      return { ok: true };
    },
  };
}
