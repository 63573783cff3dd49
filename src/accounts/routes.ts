import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { createPageHelper, csrfCookie, csrfMatches, formText, parseForm } from '../web/page.ts';
import type { SafeHtml } from '../web/html.ts';
import { PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT, payerCookieOptions } from './people.ts';
import type { AccountsService, Sessions } from './service.ts';
import { SIGNUP_FORMS, SIGNUP_SUBJECT, type Signup, type SignupForm, type SignupStep } from './signup.ts';
import { loggedInView, loginView, signupCodeView, signupEmailView, signupPasswordView } from './views.ts';

/**
 * The person's pages (issue #16): GET/POST /signup (e-mail, code, password), GET/POST /login, POST /logout. A finished
 * sign-up or login opens the checkout's payer session (cookie rampart_payer, path /, HttpOnly, SameSite=Lax) and goes
 * to `next`, a relative path on this host. Forms before a session use a double-submit CSRF cookie; /logout expects
 * the payer session's own token.
 */
const SIGNUP_COOKIE = 'rampart_signup';
const CSRF_COOKIE = 'rampart_people_csrf';
const DEFAULT_NEXT = '/wallet';
const BAD_TOKEN = 'Invalid form token; reload the page.';

/**
 * Where to go after the form: only a path on this host. `//host`, `/\host` and anything with white space (browsers
 * drop tabs and newlines, turning `/\t/host` into `//host`) or a backslash are refused for the default.
 */
export function safeNext(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 512) return DEFAULT_NEXT;
  return /^\/(?![/\\])[^\s\\]*$/.test(raw) ? raw : DEFAULT_NEXT;
}

const text = formText.transform((v) => v ?? '');
const EmailForm = z.object({ email: text });
const CodeForm = z.object({ code: text });
const PasswordForm = z.object({ password: text, terms: formText });
const LoginForm = z.object({ email: text, password: text });
const NoFields = z.object({});

/** What a refused or failed form answers, by the domain code. */
const STATUS_OF: Record<string, number> = {
  ACCOUNT_EXISTS: 409,
  FORM_NOT_APPLICABLE: 409,
  RESEND_TOO_SOON: 429,
  TOO_MANY_CODES: 429,
  BAD_CREDENTIALS: 401,
  USER_NOT_FOUND: 409,
};

export function registerPeopleRoutes(
  app: FastifyInstance,
  deps: {
    accounts: AccountsService;
    sessions: Sessions;
    signup: Signup;
    publicUrl: string;
    mode: 'sandbox' | 'production';
  },
) {
  const { accounts, sessions, signup, mode } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const pages = createPageHelper({ mode, sessions });
  const csrf = csrfCookie({ cookie: CSRF_COOKIE, path: '/', secure, field: 'csrf', sameSite: 'strict' });
  const signupCookie = { path: '/', httpOnly: true, sameSite: 'lax', secure } as const;
  const hide = { hide: true };
  // Per address and form: scrypt and mail are the costs (a code allows 5 tries whatever the rate).
  const limited = { schema: hide, config: { rateLimit: { max: 30, timeWindow: '1 minute' } } };
  const nextOf = (req: FastifyRequest) =>
    safeNext((req.body as Record<string, unknown> | undefined)?.next ?? (req.query as Record<string, unknown>)?.next);

  const send = (reply: FastifyReply, title: string, body: SafeHtml) =>
    pages.send(reply, { title, body, noStore: true });

  /** Where this browser is in the sign-up: the step and its account (from the server-side sign-up session). */
  async function signupState(req: FastifyRequest): Promise<{ step: SignupStep; userId: string | null }> {
    for (const step of ['PASSWORD', 'CODE'] as const) {
      const s = await pages.session(req, SIGNUP_COOKIE, SIGNUP_SUBJECT[step]);
      if (s) return { step, userId: s.subjectId };
    }
    return { step: 'EMAIL', userId: null };
  }

  async function payerSession(req: FastifyRequest) {
    const s = await pages.session(req, PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT);
    const payer = s ? await accounts.getPayer(s.subjectId) : null;
    return s && payer ? { payer, csrf: s.csrf } : null;
  }

  async function moveTo(req: FastifyRequest, reply: FastifyReply, step: SignupStep, userId: string | null) {
    await sessions.destroy(req.cookies[SIGNUP_COOKIE]);
    if (step === 'EMAIL' || !userId) {
      reply.clearCookie(SIGNUP_COOKIE, { path: '/' });
      return;
    }
    const s = await sessions.create(SIGNUP_SUBJECT[step], userId);
    reply.setCookie(SIGNUP_COOKIE, s.cookie, signupCookie);
  }

  async function logIn(reply: FastifyReply, payerId: string) {
    const s = await sessions.create(PAYER_SESSION_SUBJECT, payerId);
    reply.setCookie(PAYER_SESSION_COOKIE, s.cookie, payerCookieOptions(secure));
  }

  /** The sign-up page at the browser's step, with an error or a note. */
  async function renderSignup(
    req: FastifyRequest,
    reply: FastifyReply,
    opts: { error?: string; sent?: boolean; status?: number } = {},
  ) {
    const next = nextOf(req);
    const form = { csrf: csrf.token(req, reply), next, error: opts.error, sandbox: mode === 'sandbox' };
    const { step, userId } = await signupState(req);
    if (opts.status) reply.code(opts.status);
    const email = userId ? await signup.emailOf(userId) : null;
    if (step === 'CODE' && email)
      return send(reply, 'Check your e-mail', signupCodeView({ ...form, email, sent: opts.sent ?? false }));
    if (step === 'PASSWORD' && email) return send(reply, 'Choose a password', signupPasswordView({ ...form, email }));
    const logged = await payerSession(req);
    if (logged && !opts.error)
      return send(reply, 'Logged in', loggedInView({ email: logged.payer.email, next, sessionCsrf: logged.csrf }));
    return send(reply, 'Create account', signupEmailView(form));
  }

  /**
   * A sign-up form: CSRF, then whether it applies at this browser's step (SIGNUP_FORMS; a form of another step is
   * refused and changes nothing), then its body, then `fn`.
   */
  function signupForm<S extends z.ZodType>(
    form: SignupForm,
    schema: S,
    fn: (
      req: FastifyRequest,
      reply: FastifyReply,
      at: { userId: string | null },
      body: z.output<S>,
    ) => Promise<unknown>,
  ) {
    return async (req: FastifyRequest, reply: FastifyReply) => {
      if (!csrf.ok(req)) return reply.code(403).type('text/plain').send(BAD_TOKEN);
      const at = await signupState(req);
      if (!SIGNUP_FORMS[form].includes(at.step))
        return renderSignup(req, reply, {
          status: 409,
          error:
            at.step === 'EMAIL'
              ? 'This sign-up has expired or was finished. Start again with your e-mail.'
              : 'This form is not the current step of your sign-up.',
        });
      const parsed = parseForm(schema, req);
      if (!parsed.ok) return renderSignup(req, reply, { status: 400, error: parsed.message });
      return fn(req, reply, at, parsed.value);
    };
  }

  app.get('/signup', { schema: hide }, (req, reply) =>
    renderSignup(req, reply, { sent: (req.query as Record<string, unknown>).sent === '1' }),
  );

  app.post(
    '/signup',
    limited,
    signupForm('email', EmailForm, async (req, reply, _at, b) => {
      const r = await signup.start(b.email);
      if (!r.ok) return renderSignup(req, reply, { status: STATUS_OF[r.code] ?? 400, error: r.message });
      await moveTo(req, reply, 'CODE', r.value.userId);
      return reply.redirect(`/signup?next=${encodeURIComponent(nextOf(req))}${r.value.sent ? '&sent=1' : ''}`, 303);
    }),
  );

  app.post(
    '/signup/resend',
    limited,
    signupForm('resend', NoFields, async (req, reply, at) => {
      const r = await signup.resend(at.userId!);
      if (!r.ok) return renderSignup(req, reply, { status: STATUS_OF[r.code] ?? 400, error: r.message });
      return reply.redirect(`/signup?next=${encodeURIComponent(nextOf(req))}&sent=1`, 303);
    }),
  );

  app.post(
    '/signup/code',
    limited,
    signupForm('code', CodeForm, async (req, reply, at, b) => {
      const r = await signup.proveCode(at.userId!, b.code);
      if (!r.ok) return renderSignup(req, reply, { status: STATUS_OF[r.code] ?? 400, error: r.message });
      await moveTo(req, reply, 'PASSWORD', at.userId);
      return reply.redirect(`/signup?next=${encodeURIComponent(nextOf(req))}`, 303);
    }),
  );

  app.post(
    '/signup/password',
    limited,
    signupForm('password', PasswordForm, async (req, reply, at, b) => {
      const r = await signup.finish(at.userId!, { password: b.password, terms: b.terms === '1' });
      if (!r.ok) return renderSignup(req, reply, { status: STATUS_OF[r.code] ?? 400, error: r.message });
      await moveTo(req, reply, 'EMAIL', null);
      await logIn(reply, r.value.payerId);
      return reply.redirect(nextOf(req), 303);
    }),
  );

  app.post(
    '/signup/restart',
    limited,
    signupForm('restart', NoFields, async (req, reply) => {
      await moveTo(req, reply, 'EMAIL', null);
      return reply.redirect(`/signup?next=${encodeURIComponent(nextOf(req))}`, 303);
    }),
  );

  async function renderLogin(req: FastifyRequest, reply: FastifyReply, error?: string) {
    const next = nextOf(req);
    const logged = error ? null : await payerSession(req);
    if (logged)
      return send(reply, 'Logged in', loggedInView({ email: logged.payer.email, next, sessionCsrf: logged.csrf }));
    return send(reply, 'Log in', loginView({ csrf: csrf.token(req, reply), next, error }));
  }

  app.get('/login', { schema: hide }, (req, reply) => renderLogin(req, reply));

  app.post('/login', limited, async (req, reply) => {
    if (!csrf.ok(req)) return reply.code(403).type('text/plain').send(BAD_TOKEN);
    const form = parseForm(LoginForm, req);
    if (!form.ok) return renderLogin(req, reply.code(400), form.message);
    const r = await accounts.authenticatePayer(form.value.email, form.value.password);
    if (!r.ok) return renderLogin(req, reply.code(401), 'Wrong e-mail or password.');
    await logIn(reply, String(r.value.payerId));
    return reply.redirect(nextOf(req), 303);
  });

  /** Logged-in form: the payer session's own CSRF token. Without a session there is nothing to end. */
  app.post('/logout', { schema: hide }, async (req, reply) => {
    const s = await pages.session(req, PAYER_SESSION_COOKIE, PAYER_SESSION_SUBJECT);
    if (s) {
      if (!csrfMatches(s.csrf, req, 'csrf')) return reply.code(403).type('text/plain').send(BAD_TOKEN);
      await sessions.destroy(req.cookies[PAYER_SESSION_COOKIE]);
    }
    reply.clearCookie(PAYER_SESSION_COOKIE, { path: '/' });
    const raw = (req.body as Record<string, unknown> | undefined)?.next;
    return reply.redirect(raw === undefined ? '/login' : safeNext(raw), 303);
  });
}
