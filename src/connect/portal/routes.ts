import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Sessions } from '../../accounts/service.ts';
import type { SigningKeys } from '../../platform/signing-keys.ts';
import type { SafeHtml } from '../../web/html.ts';
import { bodyField, createPageHelper, csrfCookie, csrfMatches, formText, parseForm } from '../../web/page.ts';
import type { ConnectOrders } from '../orders/service.ts';
import { PLATFORM_KEY_PURPOSE, type PartnerService } from '../partners.ts';
import { CONNECT_PREFIXES } from '../routes.ts';
import { GEN2_PREFIX_V1 } from '../v2/routes.ts';
import {
  BASE,
  ORDER_STATUSES,
  docsView,
  keysView,
  linkExpiredView,
  loginView,
  ordersView,
  portalFrame,
  setPasswordView,
  settingsView,
  type Authed,
  type Message,
} from './views.ts';

/**
 * Partner admin portal (binance-connect.md §9) at /en/partner/...: login with the onboarding email and a password
 * set through the emailed link, orders with status and failure reasons, IP whitelist, public keys with rotation
 * overlap, webhook URL, redirect domains, and the API documentation. Server-rendered forms with a CSRF token; the
 * pages are in views.ts. Both API generations (binance-connect-v2.md §13): the keys page shows the gen-1 merchantCode
 * beside the gen-2 client id and issues the gen-2 sign access token.
 */
const COOKIE = 'rampart_partner';
/** Login CSRF (double submit, as the dashboard does): the login and set-password forms carry this cookie's value. */
const LOGIN_CSRF_COOKIE = 'rampart_partner_csrf';
const SUBJECT = 'connect_partner';

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const lines = (v: string | undefined) =>
  (v ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
const queryOf = (req: FastifyRequest) => (req.query ?? {}) as Record<string, unknown>;

// The form bodies, parsed at the edge: a body that does not fit shows the page's error, never a 500.
const LoginForm = z.object({ email: formText, password: formText });
const SetPasswordForm = z.object({ token: formText, password: formText });
const SettingsForm = z.object({ ipWhitelist: formText, redirectDomains: formText, webhookUrl: formText });
const KeyForm = z.object({ publicKey: formText, overlapHours: formText });

export function registerPartnerPortal(
  app: FastifyInstance,
  deps: {
    partners: PartnerService;
    orders: ConnectOrders;
    sessions: Sessions;
    signingKeys: SigningKeys;
    publicUrl: string;
    mode: 'sandbox' | 'production';
  },
) {
  const { partners, orders, sessions, signingKeys, publicUrl, mode } = deps;
  const secure = publicUrl.startsWith('https://');
  const pages = createPageHelper({ mode, sessions });
  const hide = { schema: { hide: true } };

  const render = (reply: FastifyReply, title: string, body: SafeHtml, a?: Authed, status = 200) =>
    pages.send(reply, { title, body: portalFrame(body, mode, a, reply.request.url), status, wide: true });

  async function authed(req: FastifyRequest, reply: FastifyReply): Promise<Authed | null> {
    const s = await pages.session(req, COOKIE, SUBJECT);
    const partner = s ? await partners.get(s.subjectId) : null;
    if (!s || !partner || partner.status !== 'ACTIVE') {
      reply.redirect(`${BASE}/login`);
      return null;
    }
    return { partner, csrf: s.csrf };
  }

  /** State-changing posts need the session's CSRF token. */
  async function authedPost(req: FastifyRequest, reply: FastifyReply): Promise<Authed | null> {
    const a = await authed(req, reply);
    if (!a) return null;
    if (!csrfMatches(a.csrf, req, '_csrf')) {
      reply.code(403).type('text/plain').send('Invalid CSRF token.');
      return null;
    }
    return a;
  }

  const loginCsrf = csrfCookie({ cookie: LOGIN_CSRF_COOKIE, path: BASE, secure, field: '_csrf' });
  const EXPIRED_FORM = 'The form has expired; please try again.';

  const loginPage = (req: FastifyRequest, reply: FastifyReply, msg?: Message, status = 200) =>
    render(reply, 'Partner portal login', loginView(loginCsrf.token(req, reply), msg), undefined, status);

  app.get(BASE, hide, async (_req, reply) => reply.redirect(`${BASE}/orders`));
  app.get(`${BASE}/login`, hide, async (req, reply) =>
    loginPage(req, reply, queryOf(req).done ? { info: 'Password set. You can log in now.' } : undefined),
  );
  app.post(`${BASE}/login`, { ...hide, config: { rateLimit: { max: 10, timeWindow: 60_000 } } }, async (req, reply) => {
    if (!loginCsrf.ok(req)) return loginPage(req, reply, { error: EXPIRED_FORM }, 403);
    const form = parseForm(LoginForm, req);
    if (!form.ok) return loginPage(req, reply, { error: form.message }, 400);
    const p = await partners.login(form.value.email ?? '', form.value.password ?? '');
    if (!p) return loginPage(req, reply, { error: 'Wrong email or password.' }, 401);
    const s = await sessions.create(SUBJECT, p.code);
    reply.setCookie(COOKIE, s.cookie, { path: BASE, httpOnly: true, sameSite: 'lax', secure });
    return reply.redirect(`${BASE}/orders`);
  });
  app.post(`${BASE}/logout`, hide, async (req, reply) => {
    const a = await authedPost(req, reply);
    if (!a) return reply;
    await sessions.destroy(req.cookies[COOKIE]);
    reply.clearCookie(COOKIE, { path: BASE });
    return reply.redirect(`${BASE}/login`);
  });

  const setPasswordPage = (req: FastifyRequest, reply: FastifyReply, token: string, error?: string, status = 200) =>
    render(reply, 'Set your password', setPasswordView(loginCsrf.token(req, reply), token, error), undefined, status);
  app.get(`${BASE}/set-password`, hide, async (req, reply) => {
    const token = str(queryOf(req).token);
    if (!(await partners.linkValid(token))) return render(reply, 'Link expired', linkExpiredView(), undefined, 410);
    return setPasswordPage(req, reply, token);
  });
  app.post(`${BASE}/set-password`, hide, async (req, reply) => {
    if (!loginCsrf.ok(req)) return setPasswordPage(req, reply, str(bodyField(req, 'token')), EXPIRED_FORM, 403);
    const form = parseForm(SetPasswordForm, req);
    if (!form.ok) return setPasswordPage(req, reply, str(bodyField(req, 'token')), form.message, 400);
    const token = form.value.token ?? '';
    const r = await partners.setPassword(token, form.value.password ?? '');
    if (!r.ok) return setPasswordPage(req, reply, token, r.message ?? r.code, 400);
    return reply.redirect(`${BASE}/login?done=1`);
  });

  app.get(`${BASE}/orders`, hide, async (req, reply) => {
    const a = await authed(req, reply);
    if (!a) return reply;
    const q = queryOf(req);
    const status = ORDER_STATUSES.includes(str(q.status)) ? str(q.status) : undefined;
    const search = str(q.q).trim() || undefined;
    const list = await orders.list(a.partner.code, { status, search, limit: 200 });
    return render(reply, 'Orders', ordersView({ status, search, list }), a);
  });

  const settingsPage = (reply: FastifyReply, a: Authed, msg?: Message) =>
    render(reply, 'Settings', settingsView(a, msg), a);
  app.get(`${BASE}/settings`, hide, async (req, reply) => {
    const a = await authed(req, reply);
    return a ? settingsPage(reply, a) : reply;
  });
  app.post(`${BASE}/settings`, hide, async (req, reply) => {
    const a = await authedPost(req, reply);
    if (!a) return reply;
    const form = parseForm(SettingsForm, req);
    if (!form.ok) return settingsPage(reply, a, { error: form.message });
    const b = form.value;
    const r = await partners.updateSettings(a.partner.code, {
      ipWhitelist: lines(b.ipWhitelist),
      redirectDomains: lines(b.redirectDomains),
      webhookUrl: (b.webhookUrl ?? '').trim() || null,
    });
    if (!r.ok) return settingsPage(reply, a, { error: r.message ?? r.code });
    return settingsPage(reply, { ...a, partner: r.value }, { info: 'Saved.' });
  });

  const keysPage = async (reply: FastifyReply, a: Authed, msg?: Message, newToken?: string) => {
    const keys = await partners.keys(a.partner.code);
    const platform = await signingKeys.current(PLATFORM_KEY_PURPOSE);
    const active = await partners.activeKeys(a.partner.code);
    const view = { keys, activeIds: new Set(active.map((k) => k.id)), platformKeyPem: platform.publicKeyPem, newToken };
    return render(reply, 'Keys', keysView(a, view, msg), a);
  };
  app.get(`${BASE}/keys`, hide, async (req, reply) => {
    const a = await authed(req, reply);
    return a ? keysPage(reply, a) : reply;
  });
  app.post(`${BASE}/keys`, hide, async (req, reply) => {
    const a = await authedPost(req, reply);
    if (!a) return reply;
    const form = parseForm(KeyForm, req);
    if (!form.ok) return keysPage(reply, a, { error: form.message });
    const hours = Number(form.value.overlapHours || '24');
    if (!Number.isFinite(hours) || hours < 0)
      return keysPage(reply, a, { error: 'Overlap must be a number of hours.' });
    const r = await partners.addKey(a.partner.code, form.value.publicKey ?? '', Math.round(hours * 3_600_000));
    if (!r.ok) return keysPage(reply, a, { error: r.message ?? r.code });
    return keysPage(reply, a, { info: `Key ${r.value.fingerprint.slice(0, 16)}… added.` });
  });

  // The new token is on this answer only (stored hashed): never a redirect that would have to carry it.
  app.post(`${BASE}/sign-token`, hide, async (req, reply) => {
    const a = await authedPost(req, reply);
    if (!a) return reply;
    const r = await partners.issueSignToken(a.partner.code);
    if (!r.ok) return keysPage(reply, a, { error: r.message ?? r.code });
    const partner = (await partners.get(a.partner.code)) ?? a.partner;
    return keysPage(
      reply.header('cache-control', 'no-store'),
      { ...a, partner },
      { info: 'A new sign access token was issued; the previous one no longer works.' },
      r.value,
    );
  });

  app.get(`${BASE}/docs`, hide, async (req, reply) => {
    const a = await authed(req, reply);
    if (!a) return reply;
    const gen1 = `${publicUrl}${CONNECT_PREFIXES[0]}`;
    return render(reply, 'API documentation', docsView(a, gen1, `${publicUrl}${GEN2_PREFIX_V1}`), a);
  });
}
