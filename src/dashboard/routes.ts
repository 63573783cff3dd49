import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AccountsService, Sessions } from '../accounts/service.ts';
import { enqueuePayWebhook } from '../pay/events.ts';
import type { OrderService } from '../pay/orders/service.ts';
import type { RefundService } from '../pay/refunds/service.ts';
import { reportCsv, utcDayStart, type createReportService } from '../pay/reports/service.ts';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import { Decimal, decimalPlaces } from '../platform/money.ts';
import type { WebhookDeliveryService } from '../platform/outbox/delivery.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import type { TspService } from '../tsp/service.ts';
import { displayAmount } from '../web/amount.ts';
import type { SafeHtml } from '../web/html.ts';
import {
  bodyField,
  createPageHelper,
  csrfCookie,
  csrfMatches,
  formList,
  formText,
  parseForm,
  serveScript,
} from '../web/page.ts';
import type { MerchantUsers } from './users.ts';
import type { Mode } from '../pay/features.ts';
import { param, queryOf, type DashboardCtx, type DashboardPages, type PageHandler } from './pages.ts';
import {
  BASE,
  ORDER_STATUSES,
  authorizationDetailsView,
  dashboardFrame,
  developersView,
  formExpiredView,
  linkInvalidView,
  loginView,
  notFoundView,
  orderView,
  ordersView,
  passwordNotSetView,
  reportDateInvalidView,
  reportView,
  reviewView,
  setPasswordForbiddenView,
  setPasswordView,
  vendorView,
  type DevelopersFlash,
  type Flash,
  type VendorFlash,
} from './views.ts';

type ReportService = ReturnType<typeof createReportService>;

/**
 * The merchant dashboard under /en/dashboard: login (rate-limited), orders with refunds, balances, the daily
 * reconciliation report, developer settings (API keys, IP whitelist, webhook URL, delivery log) and
 * Partner features → Technical Vendor, including the TSP authorization review page (binance-pay.md §7.4, §7.5).
 * The session cookie is HttpOnly and SameSite=Lax; every form carries the session's CSRF token (the login
 * form, before a session exists, a double-submit cookie). The pages are in views.ts.
 */
const SESSION_COOKIE = 'rampart_dash';
const LOGIN_CSRF_COOKIE = 'rampart_dash_csrf';
const SUBJECT = 'merchant_user';
const DASHBOARD_SCRIPT = `${BASE}/assets/dashboard.js`;
const LOGIN_RATE_LIMIT = { max: 10, timeWindow: 60_000 };

type Ctx = DashboardCtx;

export interface DashboardDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  accounts: AccountsService;
  sessions: Sessions;
  users: MerchantUsers;
  tsp: TspService;
  orders: OrderService;
  refunds: RefundService;
  reports: ReportService;
  ledger: Ledger;
  webhooks: WebhookDeliveryService;
  outbox: Outbox;
  publicUrl: string;
  mode: Mode;
  /** Further sections of pages, each declared with the dashboard's page tools. */
  sections?: ((pages: DashboardPages) => void)[];
}

const ipsOf = (v: string | undefined): string[] =>
  (v ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

// The form bodies, parsed at the edge: a body that does not fit shows the page's error, never a 500.
const LoginForm = z.object({ email: formText, password: formText, next: formText });
const SetPasswordForm = z.object({ token: formText, password: formText });
// requestKey: drawn when the order page is drawn, so the same form sent twice (a double click, a reload that re-posts)
// is a replay of one refund (the refund's refundRequestId), never a second refund.
const RefundForm = z.object({ amount: formText, reason: formText, requestKey: formText });
const IpWhitelistForm = z.object({ ipWhitelist: formText });
const WebhookForm = z.object({ webhookUrl: formText });
const AddAuthorizationForm = z.object({ merchantId: formText, scopes: formList, ipWhitelist: formText });
const ChangeAuthorizationForm = z.object({ scopes: formList, ipWhitelist: formText });
const ReviewForm = z.object({ authId: formText, decision: formText });

type Handler<B = unknown> = PageHandler<B>;

export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardDeps) {
  const { accounts, sessions, users, tsp, orders, refunds, clock } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const opts = { schema: { hide: true } };
  const pages = createPageHelper({ mode: deps.mode, sessions });

  const frame = (reply: FastifyReply, title: string, body: SafeHtml, ctx?: Ctx, status = 200) =>
    pages.send(reply, {
      title,
      body: dashboardFrame(body, ctx, reply.request.url, deps.mode),
      status,
      noStore: true,
      scripts: [DASHBOARD_SCRIPT],
      wide: true,
    });
  serveScript(app, DASHBOARD_SCRIPT, 'dashboard.js', 'public, max-age=300');
  const notFound = (reply: FastifyReply, ctx: Ctx) => frame(reply, 'Not found', notFoundView(), ctx, 404);

  async function context(req: FastifyRequest): Promise<Ctx | null> {
    const s = await pages.session(req, SESSION_COOKIE, SUBJECT);
    if (!s) return null;
    const user = await users.get(s.subjectId);
    const merchant = user ? await accounts.getMerchant(user.merchantId) : null;
    if (!user || !merchant || merchant.status !== 'ACTIVE') return null;
    return { user, merchant, csrf: s.csrf };
  }

  /** Pages: a logged-in merchant user, else the login page (coming back here afterwards). */
  function get(path: string, handler: Handler) {
    app.get(BASE + path, opts, async (req, reply) => {
      const ctx = await context(req);
      if (!ctx) return reply.redirect(`${BASE}/login?next=${encodeURIComponent(req.url)}`);
      return handler(req, reply, ctx, undefined);
    });
  }
  /** Form posts: a logged-in user and the session's CSRF token, or nothing happens. */
  function post(path: string, handler: Handler) {
    app.post(BASE + path, opts, async (req, reply) => {
      const ctx = await context(req);
      if (!ctx) return reply.redirect(`${BASE}/login`);
      if (!csrfMatches(ctx.csrf, req, 'csrf')) return frame(reply, 'Forbidden', formExpiredView(), ctx, 403);
      return handler(req, reply, ctx, undefined);
    });
  }
  /**
   * A form post with fields: parsed with its schema after the CSRF check; a body that does not fit answers `invalid`.
   */
  function postForm<S extends z.ZodType>(
    path: string,
    schema: S,
    invalid: Handler<string>,
    handler: Handler<z.output<S>>,
  ) {
    post(path, async (req, reply, ctx) => {
      const form = parseForm(schema, req);
      return form.ok ? handler(req, reply, ctx, form.value) : invalid(req, reply, ctx, form.message);
    });
  }

  // The sections beside this file's own pages (wallets, payouts, sub-merchants, statements) share the same tools.
  const tools: DashboardPages = { get, post, postForm, frame, notFound };
  for (const section of deps.sections ?? []) section(tools);

  // ---- login, logout, set password ----
  const loginCsrf = csrfCookie({ cookie: LOGIN_CSRF_COOKIE, path: BASE, secure, field: 'csrf' });
  const safeNext = (v: unknown) =>
    typeof v === 'string' && v.startsWith(`${BASE}/`) && !v.startsWith('//') ? v : `${BASE}/orders`;

  function loginPage(req: FastifyRequest, reply: FastifyReply, error?: string, status = 200, info?: string) {
    const next = safeNext(queryOf(req).next ?? bodyField(req, 'next'));
    return frame(
      reply,
      'Merchant login',
      loginView({ csrf: loginCsrf.token(req, reply), next, error, info }),
      undefined,
      status,
    );
  }

  app.get(`${BASE}/login`, opts, async (req, reply) =>
    loginPage(req, reply, undefined, 200, queryOf(req).done ? 'Password set, please log in.' : undefined),
  );
  app.post(`${BASE}/login`, { ...opts, config: { rateLimit: LOGIN_RATE_LIMIT } }, async (req, reply) => {
    if (!loginCsrf.ok(req)) return loginPage(req, reply, 'The form has expired; please try again.', 403);
    const form = parseForm(LoginForm, req);
    if (!form.ok) return loginPage(req, reply, form.message, 400);
    const res = await users.authenticate(form.value.email, form.value.password);
    if (!res.ok) return loginPage(req, reply, 'Wrong email or password.', 401);
    if ((await accounts.getMerchant(res.value.merchantId))?.status !== 'ACTIVE')
      return loginPage(req, reply, 'This merchant account is suspended. Contact the operator.', 403);
    const s = await sessions.create(SUBJECT, res.value.userId);
    reply.setCookie(SESSION_COOKIE, s.cookie, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure,
      maxAge: 12 * 3600,
    });
    return reply.redirect(safeNext(form.value.next), 303);
  });
  post('/logout', async (req, reply) => {
    await sessions.destroy(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect(`${BASE}/login`, 303);
  });

  app.get(`${BASE}/set-password`, opts, async (req, reply) => {
    const token = String(queryOf(req).token ?? '');
    if (!(await users.linkValid(token))) return frame(reply, 'Link expired', linkInvalidView(), undefined, 410);
    return frame(reply, 'Set your password', setPasswordView({ csrf: loginCsrf.token(req, reply), token }));
  });
  app.post(`${BASE}/set-password`, { ...opts, config: { rateLimit: LOGIN_RATE_LIMIT } }, async (req, reply) => {
    if (!loginCsrf.ok(req)) return frame(reply, 'Forbidden', setPasswordForbiddenView(), undefined, 403);
    const form = parseForm(SetPasswordForm, req);
    if (!form.ok) return frame(reply, 'Password not set', passwordNotSetView(form.message), undefined, 400);
    const res = await users.setPassword(form.value.token ?? '', form.value.password ?? '');
    if (!res.ok) return frame(reply, 'Password not set', passwordNotSetView(res.message ?? res.code), undefined, 400);
    return reply.redirect(`${BASE}/login?done=1`, 303);
  });

  app.get(BASE, opts, async (_req, reply) => reply.redirect(`${BASE}/orders`));

  // ---- orders ----
  get('/orders', async (req, reply, ctx) => {
    const q = queryOf(req);
    const status = ORDER_STATUSES.includes(q.status ?? '') ? q.status : undefined;
    const from = q.from ? utcDayStart(q.from) : null;
    const to = q.to ? utcDayStart(q.to) : null;
    const list = await orders.listForMerchant(String(ctx.merchant.merchantId), {
      status,
      from: from ?? undefined,
      to: to === null ? undefined : to + 86_400_000,
      limit: 200,
    });
    return frame(reply, 'Orders', ordersView({ status, from: q.from, to: q.to, list }), ctx);
  });

  async function orderPage(reply: FastifyReply, ctx: Ctx, prepayId: string, flash?: Flash) {
    const r = /^\d{1,19}$/.test(prepayId) ? await orders.get(String(ctx.merchant.merchantId), { prepayId }) : null;
    if (!r || !r.ok) return notFound(reply, ctx);
    const o = r.value;
    const owners = [...new Set([String(ctx.merchant.merchantId), o.creatorMerchantId])];
    const deliveries = (await Promise.all(owners.map((ownerId) => deps.webhooks.list({ ownerId, limit: 500 }))))
      .flat()
      .filter((d) => d.bizId === o.prepayId)
      .sort((a, b) => a.createdAt - b.createdAt || (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const orderRefunds = await refunds.listForOrder(o.merchantId, o.prepayId);
    return frame(reply, `Order ${o.prepayId}`, orderView(ctx, o, orderRefunds, deliveries, flash), ctx);
  }

  get('/orders/:prepayId', async (req, reply, ctx) => orderPage(reply, ctx, param(req, 'prepayId')));

  const REFUND_ERRORS: Record<string, string> = {
    INVALID_REFUND_AMOUNT: 'The amount is more than what is left to refund.',
    INSUFFICIENT_FUNDS: 'Your balance is not enough for this refund.',
    TOO_MANY_REFUND_ATTEMPTS: 'This order already had 10 refund attempts.',
    INVALID_ORDER_STATUS: 'This order cannot be refunded in its status.',
  };
  postForm(
    '/orders/:prepayId/refund',
    RefundForm,
    async (req, reply, ctx, error) => orderPage(reply, ctx, param(req, 'prepayId'), { error }),
    async (req, reply, ctx, body) => {
      const prepayId = param(req, 'prepayId');
      const amount = (body.amount ?? '').trim();
      if (!/^\d+(\.\d+)?$/.test(amount) || decimalPlaces(amount) > 8 || new Decimal(amount).lte(0)) {
        return orderPage(reply, ctx, prepayId, { error: 'Enter a positive amount with at most 8 decimals.' });
      }
      const reason = (body.reason ?? '').slice(0, 256) || null;
      if (!/^[A-Za-z0-9]{24}$/.test(body.requestKey ?? ''))
        return orderPage(reply, ctx, prepayId, { error: 'This form is out of date; reload the page and try again.' });
      const res = await refunds.refund(String(ctx.merchant.merchantId), {
        refundRequestId: `dash-${body.requestKey}`,
        prepayId,
        refundAmount: amount,
        refundReason: reason,
      });
      if (!res.ok)
        return orderPage(reply, ctx, prepayId, { error: REFUND_ERRORS[res.code] ?? res.message ?? res.code });
      const what = `${displayAmount(res.value.refund.refundAmount, res.value.refund.currency)} (refund ${res.value.refund.refundId})`;
      return orderPage(reply, ctx, prepayId, {
        ok: res.value.duplicate
          ? `This refund of ${what} was already accepted; nothing more was refunded.`
          : `Refund of ${what} accepted.`,
      });
    },
  );

  // ---- reports ----
  const today = () => new Date(clock.now()).toISOString().slice(0, 10);
  get('/reports', async (req, reply, ctx) => {
    const date = String(queryOf(req).date ?? today());
    const r = await deps.reports.daily(String(ctx.merchant.merchantId), date);
    if (!r.ok) return frame(reply, 'Reports', reportDateInvalidView(date), ctx, 400);
    return frame(reply, 'Reports', reportView(date, r.value), ctx);
  });
  get('/reports.csv', async (req, reply, ctx) => {
    const date = String(queryOf(req).date ?? today());
    const r = await deps.reports.daily(String(ctx.merchant.merchantId), date);
    if (!r.ok) return reply.code(400).type('text/plain').send('Not a valid date.');
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="rampart-${ctx.merchant.merchantId}-${date}.csv"`)
      .send(reportCsv(r.value));
  });

  // ---- developers ----
  async function developersPage(reply: FastifyReply, ctx: Ctx, flash?: DevelopersFlash) {
    const id = String(ctx.merchant.merchantId);
    const keys = await accounts.listKeys(id);
    const deliveries = await deps.webhooks.list({ ownerId: id, limit: 50 });
    return frame(reply, 'Developers', developersView(ctx, keys, deliveries, flash), ctx);
  }
  const developersError: Handler<string> = async (_req, reply, ctx, error) => developersPage(reply, ctx, { error });

  get('/developers', async (_req, reply, ctx) => developersPage(reply, ctx));
  post('/developers/keys', async (_req, reply, ctx) => {
    const res = await accounts.createKey(
      String(ctx.merchant.merchantId),
      (await accounts.listKeys(String(ctx.merchant.merchantId))).find((k) => k.status === 'ACTIVE')?.ipWhitelist,
    );
    if (!res.ok) return developersPage(reply, ctx, { error: res.message ?? res.code });
    return developersPage(reply, ctx, { newKey: { apiKey: res.value.apiKey, apiSecret: res.value.apiSecret } });
  });
  post('/developers/keys/:apiKey/revoke', async (req, reply, ctx) => {
    const res = await accounts.revokeKey(String(ctx.merchant.merchantId), param(req, 'apiKey'));
    return developersPage(reply, ctx, res.ok ? { ok: 'API key revoked.' } : { error: 'No such active key.' });
  });
  postForm('/developers/ip-whitelist', IpWhitelistForm, developersError, async (_req, reply, ctx, body) => {
    const res = await accounts.updateMerchant(String(ctx.merchant.merchantId), {
      ipWhitelist: ipsOf(body.ipWhitelist),
    });
    return developersPage(reply, ctx, res.ok ? { ok: 'IP whitelist saved.' } : { error: res.message ?? res.code });
  });
  postForm('/developers/webhook', WebhookForm, developersError, async (_req, reply, ctx, body) => {
    const url = (body.webhookUrl ?? '').trim();
    let valid = url === '';
    try {
      valid ||= url.length <= 256 && ['http:', 'https:'].includes(new URL(url).protocol);
    } catch {
      /* not a URL */
    }
    if (!valid)
      return developersPage(reply, ctx, {
        error: 'Enter an http(s) URL of at most 256 characters.',
        webhookUrl: body.webhookUrl ?? '',
      });
    const res = await accounts.updateMerchant(String(ctx.merchant.merchantId), { webhookUrl: url || null });
    if (!res.ok) return developersPage(reply, ctx, { error: res.message ?? res.code });
    return developersPage(reply, { ...ctx, merchant: res.value }, { ok: 'Webhook URL saved.' });
  });
  post('/developers/test-event', async (_req, reply, ctx) => {
    const id = String(ctx.merchant.merchantId);
    if (!ctx.merchant.webhookUrl) return developersPage(reply, ctx, { error: 'Set a webhook URL first.' });
    // A signed delivery like any Pay webhook, with its own bizType so receivers never mistake it for a payment.
    await deps.db.tx((q) =>
      enqueuePayWebhook(deps.outbox, q, {
        url: ctx.merchant.webhookUrl,
        ownerId: id,
        bizType: 'TEST',
        bizId: String(deps.ids.next()),
        bizStatus: 'TEST',
        data: { merchantId: id, message: 'Test event from the Rampart merchant dashboard' },
      }),
    );
    return developersPage(reply, ctx, { ok: 'Test event queued.' });
  });
  post('/developers/deliveries/:id/redeliver', async (req, reply, ctx) => {
    const id = param(req, 'id');
    const d = /^\d{1,19}$/.test(id) ? await deps.webhooks.get(id) : null;
    if (!d || d.ownerId !== String(ctx.merchant.merchantId))
      return developersPage(reply, ctx, { error: 'No such delivery.' });
    const res = await deps.webhooks.redeliver(id);
    return developersPage(
      reply,
      ctx,
      res.ok ? { ok: 'Delivery queued again.' } : { error: 'The delivery is still pending.' },
    );
  });

  // ---- Partner features → Technical Vendor ----
  async function vendorPage(reply: FastifyReply, ctx: Ctx, flash?: VendorFlash) {
    const id = String(ctx.merchant.merchantId);
    const granted = await tsp.listForMerchant(id);
    const tspScopes = new Map<string, string[]>();
    for (const a of granted)
      if (!tspScopes.has(a.tspMerchantId))
        tspScopes.set(a.tspMerchantId, (await accounts.getMerchant(a.tspMerchantId))?.tsp?.allowScopes ?? []);
    const own = ctx.merchant.tsp ? await tsp.listForTsp(id) : [];
    const blocked = await tsp.listBlocked(id);
    return frame(
      reply,
      'Technical Vendor',
      vendorView(ctx, { now: clock.now(), reviewUrl: tsp.reviewUrl, granted, tspScopes, own, blocked }, flash),
      ctx,
    );
  }
  const vendorError: Handler<string> = async (_req, reply, ctx, error) => vendorPage(reply, ctx, { error });

  get('/technical-vendor', async (_req, reply, ctx) => vendorPage(reply, ctx));
  // Issue 13: a merchant can dismiss an unwanted request and block the provider (its creates then answer 406210).
  post('/technical-vendor/:authId/dismiss', async (req, reply, ctx) => {
    const res = await tsp.dismiss(String(ctx.merchant.merchantId), param(req, 'authId'));
    return vendorPage(
      reply,
      ctx,
      res.ok ? { ok: `Request from ${res.value.tspName} dismissed.` } : { error: 'This request is no longer pending.' },
    );
  });
  post('/technical-vendor/:authId/block', async (req, reply, ctx) => {
    const res = await tsp.block(String(ctx.merchant.merchantId), param(req, 'authId'));
    if (!res.ok) return notFound(reply, ctx);
    return vendorPage(reply, ctx, {
      ok: `${res.value.tspName} is blocked: its pending requests were dismissed and new ones are refused.`,
    });
  });
  post('/technical-vendor/blocked/:tspId/unblock', async (req, reply, ctx) => {
    const done = await tsp.unblock(String(ctx.merchant.merchantId), param(req, 'tspId'));
    return vendorPage(reply, ctx, done ? { ok: 'Provider unblocked.' } : { error: 'This provider is not blocked.' });
  });
  const ADD_ERRORS: Record<string, string> = {
    MERCHANT_NOT_FOUND: 'Invalid merchant id.',
    FIELD_MISSING: 'Select at least one permission.',
  };
  postForm('/technical-vendor/add', AddAuthorizationForm, vendorError, async (_req, reply, ctx, body) => {
    if (!ctx.merchant.tsp)
      return vendorPage(reply, ctx, { error: 'Your account is not a technical service provider.' });
    const res = await tsp.create(
      String(ctx.merchant.merchantId),
      { merchantId: (body.merchantId ?? '').trim(), scopes: body.scopes, ipWhitelist: ipsOf(body.ipWhitelist) },
      'MANUAL',
    );
    if (!res.ok) return vendorPage(reply, ctx, { error: ADD_ERRORS[res.code] ?? res.message ?? res.code });
    return vendorPage(reply, ctx, { created: res.value });
  });
  get('/technical-vendor/:authId', async (req, reply, ctx) => {
    const a = await tsp.get(param(req, 'authId'));
    if (!a || a.tspMerchantId !== String(ctx.merchant.merchantId)) return notFound(reply, ctx);
    return frame(reply, 'Authorization details', authorizationDetailsView(a, clock.now(), tsp.reviewUrl), ctx);
  });
  postForm('/technical-vendor/:authId/change', ChangeAuthorizationForm, vendorError, async (req, reply, ctx, body) => {
    const res = await tsp.change(String(ctx.merchant.merchantId), param(req, 'authId'), {
      scopes: body.scopes,
      ipWhitelist: ipsOf(body.ipWhitelist),
    });
    return vendorPage(
      reply,
      ctx,
      res.ok
        ? { ok: 'Scopes changed; the provider was notified.' }
        : {
            error:
              res.code === 'FIELD_MISSING'
                ? 'Keep at least one scope, or disable the authorization.'
                : (res.message ?? 'This authorization cannot be changed.'),
          },
    );
  });
  post('/technical-vendor/:authId/disable', async (req, reply, ctx) => {
    const res = await tsp.disable(String(ctx.merchant.merchantId), param(req, 'authId'));
    return vendorPage(
      reply,
      ctx,
      res.ok
        ? { ok: 'Authorization disabled; the provider was notified.' }
        : { error: 'This authorization is not active.' },
    );
  });

  // ---- review page (spec §7.4) ----
  async function reviewPage(reply: FastifyReply, ctx: Ctx, authId: string, flash?: string) {
    const a = await tsp.get(authId);
    if (!a || a.merchantId !== String(ctx.merchant.merchantId)) return notFound(reply, ctx);
    return frame(reply, 'Review authorization', reviewView(ctx, a, clock.now(), flash), ctx);
  }
  get('/review-authorization', async (req, reply, ctx) => reviewPage(reply, ctx, String(queryOf(req).authId ?? '')));
  postForm(
    '/review-authorization',
    ReviewForm,
    async (req, reply, ctx) => reviewPage(reply, ctx, String(bodyField(req, 'authId') ?? '')),
    async (_req, reply, ctx, body) => {
      const authId = body.authId ?? '';
      const decision = body.decision === 'AGREE' ? 'AGREE' : body.decision === 'REJECT' ? 'REJECT' : null;
      if (!decision) return reviewPage(reply, ctx, authId);
      const res = await tsp.decide(authId, String(ctx.merchant.merchantId), decision);
      if (!res.ok && res.code === 'AUTH_NOT_FOUND') return notFound(reply, ctx);
      return reviewPage(
        reply,
        ctx,
        authId,
        res.ok
          ? decision === 'AGREE'
            ? 'You approved this authorization.'
            : 'You rejected this authorization.'
          : undefined,
      );
    },
  );
}
