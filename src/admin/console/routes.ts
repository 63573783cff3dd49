import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { safeEqual, sha256Hex } from '../../platform/crypto.ts';
import type { SafeHtml } from '../../web/html.ts';
import { bodyField, createPageHelper, csrfCookie, csrfMatches, formText, parseForm } from '../../web/page.ts';
import type { Sessions } from '../../accounts/service.ts';
import { isInt8Id } from '../../platform/ids.ts';
import type { Db } from '../../platform/db/client.ts';
import { CONSOLE_ACTOR_HEADER, type AuditLog } from '../audit-log.ts';
import type { OperatorRole, Operators } from '../operators.ts';
import { CONSOLE_COOKIE, type ConsoleSessions } from './session.ts';
import {
  CONSOLE,
  auditLogView,
  consoleFrame,
  forbiddenView,
  formExpiredView,
  formUsedView,
  loginView,
  notFoundView,
  overviewView,
  type ConsoleCtx,
  type Flash,
} from './views.ts';

/**
 * The operator console under /admin: pages over the admin API. Every action a console page takes is a call of the
 * admin API in process (`pages.api`), so the console can do nothing the API cannot, with the same validation and
 * errors, and each action lands in the audit log under the operator's name.
 *
 * Log-in: an operator account (e-mail, password, authenticator code) or the admin token; rate-limited like the
 * dashboard's. Sessions are HttpOnly SameSite=Strict cookies; every form carries the session's CSRF token. An
 * action's outcome is shown after a redirect (post/redirect/get), carried by a short-lived flash cookie.
 */
const LOGIN_CSRF_COOKIE = 'rampart_console_csrf';
const FLASH_COOKIE = 'rampart_console_flash';
const LOGIN_RATE_LIMIT = { max: 10, timeWindow: 60_000 };
const SESSION_MAX_AGE_S = 12 * 3600;
const FORM_KEY = /^[a-z0-9]{32}$/;
const FORM_KEY_TTL_MS = 24 * 3_600_000;

export type ConsoleHandler<B = unknown> = (
  req: FastifyRequest,
  reply: FastifyReply,
  ctx: ConsoleCtx,
  body: B,
) => Promise<unknown>;

interface Access {
  /** Who may open it; default administrators only. */
  roles?: OperatorRole[];
}

export interface ApiAnswer {
  status: number;
  /** The parsed JSON body (or the raw text when not JSON). */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- each page reads the admin API's own shape
  ok: boolean;
  /** The admin API's error message, for a flash. */
  message: string;
}

/** What a console section declares its pages with (one session, CSRF, role check and frame for all). */
export interface ConsolePages {
  get(path: string, handler: ConsoleHandler, access?: Access): void;
  /** A form post: a session with the role, the CSRF token, then the handler; anything else changes nothing. */
  post(path: string, handler: ConsoleHandler, access?: Access): void;
  postForm<S extends z.ZodType>(path: string, schema: S, handler: ConsoleHandler<z.output<S>>, access?: Access): void;
  frame(reply: FastifyReply, title: string, body: SafeHtml, ctx: ConsoleCtx, status?: number): unknown;
  notFound(reply: FastifyReply, ctx: ConsoleCtx): unknown;
  /** Redirects (303) to a console page that shows `flash` once. */
  redirect(reply: FastifyReply, to: string, flash?: Flash): unknown;
  /** A call of the admin (or sandbox) API as this operator. */
  api(ctx: ConsoleCtx, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<ApiAnswer>;
  /** A GET of the admin API whose answer is a file (a KYC document): its bytes as they came. */
  apiRaw(ctx: ConsoleCtx, url: string): Promise<{ status: number; contentType: string; bytes: Buffer }>;
}

export type ConsoleSection = (pages: ConsolePages) => void;

const LoginForm = z.object({
  method: formText,
  email: formText,
  password: formText,
  code: formText,
  token: formText,
  next: formText,
});

export function registerConsole(
  app: FastifyInstance,
  deps: {
    mode: string;
    publicUrl: string;
    adminToken: string;
    sessions: Sessions;
    db: Db;
    consoleSessions: ConsoleSessions;
    operators: Operators;
    auditLog: AuditLog;
    sections: ConsoleSection[];
  },
) {
  const { consoleSessions, operators, auditLog } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const opts = { schema: { hide: true } };
  const pages = createPageHelper({ mode: deps.mode, sessions: deps.sessions });
  const tokenHash = sha256Hex(deps.adminToken);

  function takeFlash(req: FastifyRequest, reply: FastifyReply): Flash | undefined {
    const raw = req.cookies[FLASH_COOKIE];
    if (!raw) return undefined;
    reply.clearCookie(FLASH_COOKIE, { path: CONSOLE });
    try {
      const f = JSON.parse(raw) as Flash;
      return {
        ok: typeof f.ok === 'string' ? f.ok : undefined,
        error: typeof f.error === 'string' ? f.error : undefined,
      };
    } catch {
      return undefined;
    }
  }

  const frame = (reply: FastifyReply, title: string, body: SafeHtml, ctx?: ConsoleCtx, status = 200) => {
    const flash = ctx ? takeFlash(reply.request, reply) : undefined;
    return pages.send(reply, { title, body: consoleFrame(body, ctx, flash), status, noStore: true, wide: true });
  };
  const notFound = (reply: FastifyReply, ctx: ConsoleCtx) => frame(reply, 'Not found', notFoundView(), ctx, 404);
  const redirect = (reply: FastifyReply, to: string, flash?: Flash) => {
    if (flash)
      reply.setCookie(FLASH_COOKIE, JSON.stringify(flash), {
        path: CONSOLE,
        httpOnly: true,
        sameSite: 'strict',
        secure,
        maxAge: 60,
      });
    return reply.redirect(to, 303);
  };

  async function context(req: FastifyRequest): Promise<ConsoleCtx | null> {
    const op = await consoleSessions.operator(req);
    return op ? { operator: { id: op.id, email: op.email, role: op.role }, csrf: op.csrf, mode: deps.mode } : null;
  }
  const allowed = (ctx: ConsoleCtx, access?: Access) => (access?.roles ?? ['admin']).includes(ctx.operator.role);

  /** A form's key is claimed once; keys older than a day (every page holding one is stale by then) are let go. */
  async function claimFormKey(formKey: string): Promise<boolean> {
    const now = Date.now();
    const claimed = await deps.db.query(
      `INSERT INTO console_form_keys (form_key, used_at) VALUES ($1, $2) ON CONFLICT (form_key) DO NOTHING
        RETURNING form_key`,
      [formKey, now],
    );
    if (claimed.rows.length === 1 && Math.random() < 0.01)
      await deps.db.query(`DELETE FROM console_form_keys WHERE used_at < $1`, [now - FORM_KEY_TTL_MS]);
    return claimed.rows.length === 1;
  }

  function get(path: string, handler: ConsoleHandler, access?: Access) {
    app.get(CONSOLE + path, opts, async (req, reply) => {
      const ctx = await context(req);
      if (!ctx) return reply.redirect(`${CONSOLE}/login?next=${encodeURIComponent(req.url)}`);
      if (!allowed(ctx, access)) return frame(reply, 'Not allowed', forbiddenView(), ctx, 403);
      return handler(req, reply, ctx, undefined);
    });
  }
  function post(path: string, handler: ConsoleHandler, access?: Access) {
    app.post(CONSOLE + path, opts, async (req, reply) => {
      const ctx = await context(req);
      if (!ctx) return reply.redirect(`${CONSOLE}/login`, 303);
      if (!allowed(ctx, access)) return frame(reply, 'Not allowed', forbiddenView(), ctx, 403);
      if (!csrfMatches(ctx.csrf, req, 'csrf')) return frame(reply, 'Form expired', formExpiredView(), ctx, 403);
      const formKey = bodyField(req, 'formKey');
      if (typeof formKey !== 'string' || !FORM_KEY.test(formKey))
        return frame(reply, 'Form expired', formExpiredView(), ctx, 403);
      if (!(await claimFormKey(formKey))) return frame(reply, 'Already done', formUsedView(), ctx, 409);
      return handler(req, reply, ctx, undefined);
    });
  }
  /** The console page a form was sent from (its Referer on this console), to come back to; else the home page. */
  function formPage(req: FastifyRequest): string {
    try {
      const from = new URL(String(req.headers.referer ?? ''));
      const path = from.pathname + from.search;
      return from.host === req.headers.host && safeNext(path) === path ? path : CONSOLE;
    } catch {
      return CONSOLE;
    }
  }

  function postForm<S extends z.ZodType>(
    path: string,
    schema: S,
    handler: ConsoleHandler<z.output<S>>,
    access?: Access,
  ) {
    post(
      path,
      async (req, reply, ctx) => {
        const form = parseForm(schema, req);
        if (!form.ok) return redirect(reply, formPage(req), { error: form.message });
        return handler(req, reply, ctx, form.value);
      },
      access,
    );
  }

  const actorOf = (ctx: ConsoleCtx) =>
    ctx.operator.id === 'admin-token'
      ? { actor: 'admin-token', email: null }
      : { actor: `operator:${ctx.operator.id}`, email: ctx.operator.email };
  const inject = (ctx: ConsoleCtx, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) =>
    app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${deps.adminToken}`,
        [CONSOLE_ACTOR_HEADER]: auditLog.consoleHeader(actorOf(ctx)),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });

  async function apiRaw(ctx: ConsoleCtx, url: string) {
    const res = await inject(ctx, 'GET', url);
    return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), bytes: res.rawPayload };
  }

  async function api(
    ctx: ConsoleCtx,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
  ): Promise<ApiAnswer> {
    const res = await inject(ctx, method, url, body);
    let parsed: unknown = res.body;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      // not JSON (a file): left as text
    }
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    return {
      status: res.statusCode,
      body: parsed,
      ok: res.statusCode < 400,
      message: error ? `${error.message ?? error.code}` : `The request failed (${res.statusCode}).`,
    };
  }

  const tools: ConsolePages = { get, post, postForm, frame, notFound, redirect, api, apiRaw };

  // ---- log in, log out ----
  const loginCsrf = csrfCookie({ cookie: LOGIN_CSRF_COOKIE, path: CONSOLE, secure, field: 'csrf' });
  // Only a path of this console (or the mailbox), in printable ASCII: no other host, no header-breaking characters.
  const safeNext = (v: unknown) =>
    typeof v === 'string' &&
    /^[\x21-\x7e]{1,512}$/.test(v) &&
    !v.includes('\\') &&
    (v === CONSOLE || v.startsWith(`${CONSOLE}/`) || v.startsWith('/dev/mailbox'))
      ? v
      : CONSOLE;
  function loginPage(req: FastifyRequest, reply: FastifyReply, error?: string, status = 200) {
    const next = safeNext((req.query as Record<string, unknown>).next ?? bodyField(req, 'next'));
    const method = bodyField(req, 'method') === 'token' ? 'token' : 'account';
    return frame(
      reply,
      'Operator log-in',
      loginView({ csrf: loginCsrf.token(req, reply), next, error, method }),
      undefined,
      status,
    );
  }
  app.get(`${CONSOLE}/login`, opts, async (req, reply) => loginPage(req, reply));
  app.post(`${CONSOLE}/login`, { ...opts, config: { rateLimit: LOGIN_RATE_LIMIT } }, async (req, reply) => {
    if (!loginCsrf.ok(req)) return loginPage(req, reply, 'The form has expired; please try again.', 403);
    const form = parseForm(LoginForm, req);
    if (!form.ok) return loginPage(req, reply, form.message, 400);
    const f = form.value;
    let operatorId: string | null;
    let who: { actor: string; email: string | null };
    if (f.method === 'token') {
      if (!safeEqual(sha256Hex(f.token ?? ''), tokenHash)) {
        await auditLog.record({
          actor: 'anonymous',
          actorEmail: null,
          method: 'POST',
          path: `${CONSOLE}/login`,
          status: 401,
          summary: 'admin token log-in refused',
        });
        return loginPage(req, reply, 'That is not the admin token.', 401);
      }
      operatorId = null;
      who = { actor: 'admin-token', email: null };
    } else {
      const res = await operators.authenticate(f.email, f.password, f.code);
      if (!res.ok) {
        await auditLog.record({
          actor: 'anonymous',
          actorEmail: typeof f.email === 'string' ? f.email.slice(0, 254) : null,
          method: 'POST',
          path: `${CONSOLE}/login`,
          status: 401,
          summary: 'log-in refused',
        });
        return loginPage(req, reply, 'Wrong e-mail, password or code.', 401);
      }
      operatorId = res.value.id;
      who = { actor: `operator:${res.value.id}`, email: res.value.email };
    }
    const s = await consoleSessions.open(operatorId);
    await auditLog.record({
      actor: who.actor,
      actorEmail: who.email,
      method: 'POST',
      path: `${CONSOLE}/login`,
      status: 200,
      summary: 'logged in',
    });
    reply.setCookie(CONSOLE_COOKIE, s.cookie, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure,
      maxAge: SESSION_MAX_AGE_S,
    });
    return reply.redirect(safeNext(f.next), 303);
  });
  post(
    '/logout',
    async (req, reply, ctx) => {
      await consoleSessions.close(req);
      const who = actorOf(ctx);
      await auditLog.record({
        actor: who.actor,
        actorEmail: who.email,
        method: 'POST',
        path: `${CONSOLE}/logout`,
        status: 200,
        summary: 'logged out',
      });
      reply.clearCookie(CONSOLE_COOKIE, { path: '/' });
      return reply.redirect(`${CONSOLE}/login`, 303);
    },
    { roles: ['admin', 'reviewer'] },
  );

  // ---- overview, audit log ----
  app.get(`${CONSOLE}/`, opts, async (_req, reply) => reply.redirect(CONSOLE));
  get(
    '',
    async (_req, reply, ctx) => {
      if (ctx.operator.role === 'reviewer') return reply.redirect(`${CONSOLE}/kyc`);
      const [review, failed, audit, wallets, recent] = await Promise.all([
        api(ctx, 'GET', '/admin/v1/kyc?status=REVIEW'),
        api(ctx, 'GET', '/admin/v1/webhooks/deliveries?status=FAILED&limit=500'),
        api(ctx, 'GET', '/admin/v1/ledger/audit'),
        api(ctx, 'GET', '/admin/v1/chain/hot-wallets'),
        auditLog.list({ limit: 10 }),
      ]);
      const listLength = (a: ApiAnswer) => (a.ok && Array.isArray(a.body) ? a.body.length : 0);
      const walletRows: { warning?: string | null }[] =
        wallets.ok && Array.isArray(wallets.body?.hotWallets) ? wallets.body.hotWallets : [];
      return frame(
        reply,
        'Operator console',
        overviewView({
          kycInReview: listLength(review),
          failedDeliveries: Array.isArray(failed.body?.deliveries) ? failed.body.deliveries.length : listLength(failed),
          auditOk: audit.ok && audit.body?.ok === true,
          auditProblems: audit.ok && Array.isArray(audit.body?.problems) ? audit.body.problems.length : 0,
          hotWalletWarnings: walletRows
            .map((w) => w.warning)
            .filter((w): w is string => typeof w === 'string' && w !== ''),
          recent,
        }),
        ctx,
      );
    },
    { roles: ['admin', 'reviewer'] },
  );
  get('/audit-log', async (req, reply, ctx) => {
    const before = (req.query as Record<string, string | undefined>).before;
    const entries = await auditLog.list({
      limit: 100,
      before: isInt8Id(before) ? before : undefined,
    });
    const older = entries.length === 100 ? `${CONSOLE}/audit-log?before=${entries[entries.length - 1]!.id}` : null;
    return frame(reply, 'Audit log', auditLogView(entries, older), ctx);
  });

  for (const section of deps.sections) section(tools);
  return tools;
}
