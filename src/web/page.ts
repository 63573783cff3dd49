import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Sessions } from '../accounts/service.ts';
import { randomString, safeEqual } from '../platform/crypto.ts';
import type { SafeHtml } from './html.ts';
import { page } from './layout.ts';

/**
 * The page helper every page family uses (merchant dashboard, partner portal, hosted checkout, Connect buy flow):
 * session lookup, CSRF, form bodies parsed with a zod schema, and rendering through the layout. Controllers stay in
 * each family's `routes.ts`, markup in its `views.ts`, browser scripts in `src/web/assets/`.
 *
 * CSRF is one mechanism: every state-changing form echoes a token in a hidden field, compared in constant time with
 * the token the server expects. A logged-in form expects its session's token; a form shown before a session exists
 * (login, set password, checkout, buy flow) expects a random HttpOnly cookie set when the form was shown (double
 * submit), so another site can neither read nor set it.
 */
type SameSite = 'strict' | 'lax' | 'none';

interface CsrfCookie {
  /** The token to put in the form (set as a cookie when the browser has none yet). */
  token(req: FastifyRequest, reply: FastifyReply): string;
  /** The posted form echoes the cookie in the family's field. */
  ok(req: FastifyRequest): boolean;
}

/** One field of a posted body (before any schema), if the body is a form at all. */
export function bodyField(req: FastifyRequest, field: string): unknown {
  const body = req.body;
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined;
}

/** The one CSRF comparison: the form's `field` equals the expected token. */
export function csrfMatches(expected: string | undefined, req: FastifyRequest, field: string): boolean {
  const sent = bodyField(req, field);
  return typeof expected === 'string' && typeof sent === 'string' && safeEqual(expected, sent);
}

const TOKEN = /^[a-z0-9]{32}$/;

/** The double-submit cookie of forms shown before a session exists. */
export function csrfCookie(opts: {
  cookie: string;
  path: string;
  secure: boolean;
  field: string;
  sameSite?: SameSite;
}): CsrfCookie {
  return {
    token(req, reply) {
      let token = req.cookies[opts.cookie];
      if (!token || !TOKEN.test(token)) {
        token = randomString(32);
        reply.setCookie(opts.cookie, token, {
          path: opts.path,
          httpOnly: true,
          sameSite: opts.sameSite ?? 'strict',
          secure: opts.secure,
        });
      }
      return token;
    },
    ok: (req) => csrfMatches(req.cookies[opts.cookie], req, opts.field),
  };
}

/** What a form body parses to: its fields, or the message the page shows in its usual error display. */
type FormResult<T> = { ok: true; value: T } | { ok: false; message: string };
const FORM_INVALID = 'The form could not be read. Reload the page and try again.';

/**
 * Form field shapes: @fastify/formbody gives a string, or an array for a repeated name; JSON forms (the buy flow's
 * uploads) give what the script sent. A body that does not fit is a page error, never a 500.
 */
export const formText = z.string().optional();
export const formList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v): string[] => (Array.isArray(v) ? v : typeof v === 'string' && v !== '' ? [v] : []));

export function parseForm<S extends z.ZodType>(schema: S, req: FastifyRequest): FormResult<z.output<S>> {
  const body = req.body === undefined || req.body === null ? {} : req.body;
  const r = schema.safeParse(body);
  return r.success ? { ok: true, value: r.data } : { ok: false, message: FORM_INVALID };
}

/**
 * A browser script from `src/web/assets/`, read once; pages load it with `<script src defer>` (CSP `script-src
 * 'self'`).
 */
export function serveScript(app: FastifyInstance, url: string, file: string, cacheControl: string) {
  const source = readFileSync(new URL(`./assets/${file}`, import.meta.url), 'utf8');
  app.get(url, { schema: { hide: true } }, async (_req, reply) =>
    reply.type('application/javascript').header('cache-control', cacheControl).send(source),
  );
}

interface PageOptions {
  title: string;
  body: SafeHtml;
  /** Left as it is on the reply when not given. */
  status?: number;
  scripts?: string[];
  /** Pages that carry a session's data or a form token are not cached. */
  noStore?: boolean;
  /** Back-office pages (dashboard, partner portal, console): the wide main of the layout. */
  wide?: boolean;
}

export function createPageHelper(opts: { mode: string; sessions: Sessions }) {
  return {
    /** The session of `cookie` for `subject` (its subject id and CSRF token), or null. */
    session: (req: FastifyRequest, cookie: string, subject: string) => opts.sessions.get(req.cookies[cookie], subject),
    csrfCookie,
    csrfMatches,
    parseForm,
    send(reply: FastifyReply, p: PageOptions) {
      if (p.status !== undefined) reply.code(p.status);
      if (p.noStore) reply.header('cache-control', 'no-store');
      return reply
        .type('text/html; charset=utf-8')
        .send(page({ title: p.title, mode: opts.mode, body: p.body, scripts: p.scripts, wide: p.wide }));
    },
  };
}
