import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomString, safeEqual } from '../platform/crypto.ts';

/**
 * The pre-session CSRF token of a login-type form (login, set password): a random cookie that the form must echo in
 * `field`, so another site cannot post its own credentials here. One mechanism for every portal's login pages.
 */
export function createLoginCsrf(opts: { cookie: string; path: string; secure: boolean; field: string }) {
  return {
    /** The token to put in the form (set as a cookie when the browser has none yet). */
    token(req: FastifyRequest, reply: FastifyReply): string {
      let token = req.cookies[opts.cookie];
      if (!token || !/^[a-z0-9]{32}$/.test(token)) {
        token = randomString(32);
        reply.setCookie(opts.cookie, token, { path: opts.path, httpOnly: true, sameSite: 'strict', secure: opts.secure });
      }
      return token;
    },
    /** The posted form echoes the cookie. */
    ok(req: FastifyRequest): boolean {
      const cookie = req.cookies[opts.cookie];
      const sent = (req.body as Record<string, unknown> | undefined)?.[opts.field];
      return typeof cookie === 'string' && typeof sent === 'string' && safeEqual(cookie, sent);
    },
  };
}
