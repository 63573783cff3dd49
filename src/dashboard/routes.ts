import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountsService, Merchant, Sessions } from '../accounts/service.ts';
import { enqueuePayWebhook } from '../pay/events.ts';
import type { OrderService } from '../pay/orders/service.ts';
import type { RefundService } from '../pay/refunds/service.ts';
import { reportCsv, utcDayStart, type createReportService } from '../pay/reports/service.ts';

type ReportService = ReturnType<typeof createReportService>;
import type { Clock } from '../platform/clock.ts';
import { randomAlnum, safeEqual } from '../platform/crypto.ts';
import type { Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import { Decimal, decimalPlaces } from '../platform/money.ts';
import type { WebhookDeliveryService } from '../platform/outbox/delivery.ts';
import type { Outbox } from '../platform/outbox/service.ts';
import { SCOPE_TEXT, type Authorization, type TspService } from '../tsp/service.ts';
import { createLoginCsrf } from '../web/login-csrf.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { page } from '../web/layout.ts';
import type { MerchantUser, MerchantUsers } from './users.ts';

/**
 * The merchant dashboard under /en/dashboard: login (rate-limited), orders with refunds, balances, the daily
 * reconciliation report, developer settings (API keys, IP whitelist, webhook URL, delivery log) and
 * Partner features → Technical Vendor, including the TSP authorization review page (binance-pay.md §7.4, §7.5).
 * The session cookie is HttpOnly and SameSite=Lax; every form carries the session's CSRF token (the login
 * form, before a session exists, a double-submit cookie).
 */
const BASE = '/en/dashboard';
const SESSION_COOKIE = 'rampart_dash';
const LOGIN_CSRF_COOKIE = 'rampart_dash_csrf';
const SUBJECT = 'merchant_user';
export const LOGIN_RATE_LIMIT = { max: 10, timeWindow: 60_000 };

const DASH_CSS = `main{max-width:980px}nav{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px;align-items:center}nav a{color:#1e2329}
table{width:100%;border-collapse:collapse;font-size:14px}th,td{text-align:left;padding:6px;border-bottom:1px solid #eaecef;vertical-align:top}
.inline{display:inline}.inline .btn{display:inline-block;width:auto;padding:6px 12px;font-size:14px;margin:0}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}.actions .btn,.actions form{margin:0}
.flash{background:#e6f7ee;color:#03a66d;padding:8px 12px;border-radius:8px;margin:8px 0}code,.mono{font-family:ui-monospace,monospace;word-break:break-all}
textarea{width:100%;min-height:60px;padding:8px;border:1px solid #d0d4da;border-radius:8px}select,input[type=date],input[type=url]{padding:8px;border:1px solid #d0d4da;border-radius:8px}`;

interface Ctx {
  user: MerchantUser;
  merchant: Merchant;
  csrf: string;
}

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
  mode: string;
}

const time = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC');
const listOf = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v !== '' ? [v] : []);
const ipsOf = (v: unknown): string[] => String(v ?? '').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
const hidden = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardDeps) {
  const { accounts, sessions, users, tsp, orders, refunds, clock } = deps;
  const secure = deps.publicUrl.startsWith('https://');
  const opts = { schema: { hide: true } };

  function frame(reply: FastifyReply, title: string, body: SafeHtml, ctx?: Ctx, status = 200) {
    const nav = ctx ? html`<nav><strong>${ctx.merchant.name}</strong>
      <a href="${BASE}/orders">Orders</a><a href="${BASE}/balances">Balances</a><a href="${BASE}/reports">Reports</a>
      <a href="${BASE}/developers">Developers</a><a href="${BASE}/technical-vendor">Partner features → Technical Vendor</a>
      <form class="inline" method="post" action="${BASE}/logout">${hidden(ctx.csrf)}<button class="btn secondary" type="submit">Log out</button></form></nav>` : '';
    return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store')
      .send(page({ title, mode: deps.mode, body: html`<style>${DASH_CSS}</style>${nav}${body}` }));
  }
  const card = (inner: SafeHtml | SafeHtml[] | string) => html`<div class="card">${inner}</div>`;
  const notFound = (reply: FastifyReply, ctx: Ctx) => frame(reply, 'Not found', card(html`<h1>Not found</h1><p class="muted">Nothing here for this merchant.</p>`), ctx, 404);

  async function context(req: FastifyRequest): Promise<Ctx | null> {
    const s = await sessions.get(req.cookies[SESSION_COOKIE], SUBJECT);
    if (!s) return null;
    const user = await users.get(s.subjectId);
    const merchant = user ? await accounts.getMerchant(user.merchantId) : null;
    if (!user || !merchant || merchant.status !== 'ACTIVE') return null;
    return { user, merchant, csrf: s.csrf };
  }

  /** Pages: a logged-in merchant user, else the login page (coming back here afterwards). */
  function get(path: string, handler: (req: FastifyRequest, reply: FastifyReply, ctx: Ctx) => Promise<unknown>) {
    app.get(BASE + path, opts, async (req, reply) => {
      const ctx = await context(req);
      if (!ctx) return reply.redirect(`${BASE}/login?next=${encodeURIComponent(req.url)}`);
      return handler(req, reply, ctx);
    });
  }
  /** Form posts: a logged-in user and the session's CSRF token, or nothing happens. */
  function post(path: string, handler: (req: FastifyRequest, reply: FastifyReply, ctx: Ctx, body: Record<string, unknown>) => Promise<unknown>) {
    app.post(BASE + path, opts, async (req, reply) => {
      const ctx = await context(req);
      if (!ctx) return reply.redirect(`${BASE}/login`);
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (typeof body.csrf !== 'string' || !safeEqual(body.csrf, ctx.csrf)) {
        return frame(reply, 'Forbidden', card(html`<h1>Forbidden</h1><p>The form has expired. Go back, reload and try again.</p>`), ctx, 403);
      }
      return handler(req, reply, ctx, body);
    });
  }

  // ---- login, logout, set password ----
  const loginCsrfGuard = createLoginCsrf({ cookie: LOGIN_CSRF_COOKIE, path: BASE, secure, field: 'csrf' });
  const loginCsrf = loginCsrfGuard.token;
  const safeNext = (v: unknown) => (typeof v === 'string' && v.startsWith(`${BASE}/`) && !v.startsWith('//') ? v : `${BASE}/orders`);

  function loginPage(req: FastifyRequest, reply: FastifyReply, error?: string, status = 200) {
    const next = safeNext((req.query as any)?.next ?? (req.body as any)?.next);
    return frame(reply, 'Merchant login', card(html`<h1>Merchant dashboard</h1>${error ? html`<div class="error">${error}</div>` : ''}
      <form method="post" action="${BASE}/login"><input type="hidden" name="csrf" value="${loginCsrf(req, reply)}"><input type="hidden" name="next" value="${next}">
        <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
        <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
        <button class="btn" type="submit">Log in</button></form>`), undefined, status);
  }

  app.get(`${BASE}/login`, opts, async (req, reply) => loginPage(req, reply));
  app.post(`${BASE}/login`, { ...opts, config: { rateLimit: LOGIN_RATE_LIMIT } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!loginCsrfGuard.ok(req)) return loginPage(req, reply, 'The form has expired; please try again.', 403);
    const res = await users.authenticate(body.email, body.password);
    if (!res.ok) return loginPage(req, reply, 'Wrong email or password.', 401);
    const s = await sessions.create(SUBJECT, res.value.userId);
    reply.setCookie(SESSION_COOKIE, s.cookie, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: 12 * 3600 });
    return reply.redirect(safeNext(body.next), 303);
  });
  post('/logout', async (req, reply) => {
    await sessions.destroy(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect(`${BASE}/login`, 303);
  });

  app.get(`${BASE}/set-password`, opts, async (req, reply) => {
    const token = String((req.query as any)?.token ?? '');
    if (!(await users.linkValid(token))) return frame(reply, 'Link expired', card(html`<h1>Link not valid</h1><p>This link is invalid, used or expired. Ask your operator for a new one.</p>`), undefined, 410);
    return frame(reply, 'Set your password', card(html`<h1>Choose your password</h1>
      <form method="post" action="${BASE}/set-password"><input type="hidden" name="csrf" value="${loginCsrf(req, reply)}"><input type="hidden" name="token" value="${token}">
      <label for="password">New password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
      <button class="btn" type="submit">Set password</button></form>`));
  });
  app.post(`${BASE}/set-password`, { ...opts, config: { rateLimit: LOGIN_RATE_LIMIT } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!loginCsrfGuard.ok(req)) return frame(reply, 'Forbidden', card(html`<h1>Forbidden</h1>`), undefined, 403);
    const res = await users.setPassword(String(body.token ?? ''), String(body.password ?? ''));
    if (!res.ok) return frame(reply, 'Password not set', card(html`<h1>Password not set</h1><div class="error">${res.message ?? res.code}</div>`), undefined, 400);
    return reply.redirect(`${BASE}/login`, 303);
  });

  app.get(BASE, opts, async (_req, reply) => reply.redirect(`${BASE}/orders`));

  // ---- orders ----
  const STATUSES = ['INITIAL', 'PENDING', 'PAID', 'CANCELED', 'EXPIRED', 'ERROR', 'REFUNDING', 'REFUNDED', 'FULL_REFUNDED'];
  get('/orders', async (req, reply, ctx) => {
    const q = req.query as Record<string, string | undefined>;
    const status = STATUSES.includes(q.status ?? '') ? q.status : undefined;
    const from = q.from ? utcDayStart(q.from) : null;
    const to = q.to ? utcDayStart(q.to) : null;
    const list = await orders.listForMerchant(String(ctx.merchant.merchantId), { status, from: from ?? undefined, to: to === null ? undefined : to + 86_400_000, limit: 200 });
    return frame(reply, 'Orders', html`${card(html`<h1>Orders</h1>
      <form method="get" action="${BASE}/orders" id="filter">
        <label for="status">Status</label><select id="status" name="status"><option value="">Any</option>${STATUSES.map((s) => html`<option value="${s}" ${s === status ? html`selected` : ''}>${s}</option>`)}</select>
        <label for="from">From (UTC date)</label><input id="from" type="date" name="from" value="${q.from ?? ''}">
        <label for="to">To (UTC date, inclusive)</label><input id="to" type="date" name="to" value="${q.to ?? ''}">
        <button class="btn" type="submit">Filter</button></form>`)}
      ${card(html`<table id="orders"><tr><th>Created</th><th>prepayId</th><th>merchantTradeNo</th><th>Amount</th><th>Status</th></tr>
        ${list.map((o) => html`<tr><td>${time(o.createTime)}</td><td><a class="mono" href="${BASE}/orders/${o.prepayId}">${o.prepayId}</a></td><td>${o.merchantTradeNo}</td><td>${o.orderAmount} ${o.currency}</td><td class="status-cell">${o.status}</td></tr>`)}
      </table>${list.length === 0 ? html`<p class="muted">No orders match.</p>` : ''}`)}`, ctx);
  });

  async function orderPage(reply: FastifyReply, ctx: Ctx, prepayId: string, flash?: { ok?: string; error?: string }) {
    const r = /^\d{1,19}$/.test(prepayId) ? await orders.get(String(ctx.merchant.merchantId), { prepayId }) : null;
    if (!r || !r.ok) return notFound(reply, ctx);
    const o = r.value;
    const owners = [...new Set([String(ctx.merchant.merchantId), o.creatorMerchantId])];
    const deliveries = (await Promise.all(owners.map((ownerId) => deps.webhooks.list({ ownerId, limit: 500 })))).flat().filter((d) => d.bizId === o.prepayId)
      .sort((a, b) => a.createdAt - b.createdAt);
    const events: [number, string][] = [[o.createTime, `Created (${o.apiVersion}${o.creatorMerchantId !== o.merchantId ? `, by technical service provider ${o.creatorMerchantId}` : ''})`]];
    if (o.transactTime !== null && o.transactionId) events.push([o.transactTime, `Paid, transaction ${o.transactionId}`]);
    if (o.closedTime !== null) events.push([o.closedTime, `Closed as ${o.status}`]);
    for (const d of deliveries) events.push([d.createdAt, `Webhook ${d.bizType} ${d.bizStatus} queued`]);
    events.sort((a, b) => a[0] - b[0]);
    const refundable = ['PAID', 'REFUNDING', 'REFUNDED'].includes(o.status);
    return frame(reply, `Order ${o.prepayId}`, html`${card(html`<h1>Order <span class="mono">${o.prepayId}</span></h1>
        ${flash?.ok ? html`<div class="flash" id="flash">${flash.ok}</div>` : ''}${flash?.error ? html`<div class="error" id="flash">${flash.error}</div>` : ''}
        <div class="row"><span>Status</span><strong id="order-status">${o.status}</strong></div>
        <div class="row"><span>merchantTradeNo</span><span>${o.merchantTradeNo}</span></div>
        <div class="row"><span>Amount</span><span>${o.orderAmount} ${o.currency}</span></div>
        <div class="row"><span>Commission</span><span>${o.commission ?? '—'}</span></div>
        <div class="row"><span>Product</span><span>${o.productName}</span></div>
        <div class="row"><span>Expires</span><span>${time(o.expireTime)}</span></div>`)}
      ${refundable ? card(html`<h2>Refund</h2><form method="post" action="${BASE}/orders/${o.prepayId}/refund">${hidden(ctx.csrf)}
        <label for="amount">Amount (${o.currency})</label><input id="amount" name="amount" type="text" inputmode="decimal" required>
        <label for="reason">Reason (optional)</label><input id="reason" name="reason" type="text" maxlength="256">
        <button class="btn" id="refund" type="submit">Refund</button></form>`) : ''}
      ${card(html`<h2>Events</h2><table id="events">${events.map(([at, what]) => html`<tr><td>${time(at)}</td><td>${what}</td></tr>`)}</table>`)}
      ${card(html`<h2>Webhook deliveries</h2>${deliveryTable(ctx, deliveries)}`)}`, ctx);
  }

  function deliveryTable(ctx: Ctx, list: Awaited<ReturnType<WebhookDeliveryService['list']>>) {
    if (list.length === 0) return html`<p class="muted">No webhook deliveries.</p>`;
    return html`<table class="deliveries"><tr><th>Created</th><th>Event</th><th>URL</th><th>Status</th><th>Attempts</th><th></th></tr>
      ${list.map((d) => html`<tr><td>${time(d.createdAt)}</td><td>${d.bizType} ${d.bizStatus}<br><span class="mono muted">${d.bizId}</span></td><td class="mono">${d.url}</td>
        <td>${d.status}</td><td>${d.attempts.length}${d.attempts.length ? html`<br><span class="muted">last: ${d.attempts[d.attempts.length - 1].httpStatus ?? d.attempts[d.attempts.length - 1].error ?? ''}</span>` : ''}</td>
        <td>${d.status !== 'PENDING' ? html`<form class="inline" method="post" action="${BASE}/developers/deliveries/${d.id}/redeliver">${hidden(ctx.csrf)}<button class="btn secondary" type="submit">Redeliver</button></form>` : ''}</td></tr>`)}</table>`;
  }

  get('/orders/:prepayId', async (req, reply, ctx) => orderPage(reply, ctx, (req.params as any).prepayId));

  post('/orders/:prepayId/refund', async (req, reply, ctx, body) => {
    const prepayId = String((req.params as any).prepayId);
    const amount = String(body.amount ?? '').trim();
    if (!/^\d+(\.\d+)?$/.test(amount) || decimalPlaces(amount) > 8 || new Decimal(amount).lte(0)) {
      return orderPage(reply, ctx, prepayId, { error: 'Enter a positive amount with at most 8 decimals.' });
    }
    const reason = String(body.reason ?? '').slice(0, 256) || null;
    const res = await refunds.refund(String(ctx.merchant.merchantId), { refundRequestId: `dash-${randomAlnum(24)}`, prepayId, refundAmount: amount, refundReason: reason });
    if (!res.ok) {
      const text: Record<string, string> = {
        INVALID_REFUND_AMOUNT: 'The amount is more than what is left to refund.', INSUFFICIENT_FUNDS: 'Your balance is not enough for this refund.',
        TOO_MANY_REFUND_ATTEMPTS: 'This order already had 10 refund attempts.', INVALID_ORDER_STATUS: 'This order cannot be refunded in its status.',
      };
      return orderPage(reply, ctx, prepayId, { error: text[res.code] ?? res.message ?? res.code });
    }
    return orderPage(reply, ctx, prepayId, { ok: `Refund of ${res.value.refund.refundAmount} ${res.value.refund.currency} accepted (refund ${res.value.refund.refundId}).` });
  });

  // ---- balances and reports ----
  get('/balances', async (_req, reply, ctx) => {
    const list = await deps.ledger.balances(deps.db, 'merchant', String(ctx.merchant.merchantId));
    return frame(reply, 'Balances', card(html`<h1>Balances</h1><table id="balances"><tr><th>Asset</th><th>Available</th><th>Frozen (refunds in flight)</th></tr>
      ${list.map((b) => html`<tr><td>${b.asset}</td><td>${new Decimal(b.available).toFixed(8)}</td><td>${new Decimal(b.held).toFixed(8)}</td></tr>`)}</table>
      ${list.length === 0 ? html`<p class="muted">No balances yet.</p>` : ''}`), ctx);
  });

  const today = () => new Date(clock.now()).toISOString().slice(0, 10);
  get('/reports', async (req, reply, ctx) => {
    const date = String((req.query as any)?.date ?? today());
    const r = await deps.reports.daily(String(ctx.merchant.merchantId), date);
    if (!r.ok) return frame(reply, 'Reports', card(html`<h1>Daily reconciliation</h1><div class="error">Not a valid date: ${date}</div>`), ctx, 400);
    const rep = r.value;
    return frame(reply, 'Reports', html`${card(html`<h1>Daily reconciliation</h1>
      <form method="get" action="${BASE}/reports"><label for="date">Date (UTC)</label><input id="date" type="date" name="date" value="${date}"><button class="btn" type="submit">Show</button></form>
      <a class="btn secondary" id="csv" href="${BASE}/reports.csv?date=${date}">Download CSV</a>`)}
      ${rep.assets.map((a) => card(html`<h2>${a.asset}</h2>
        <div class="row"><span>Opening balance</span><span>${a.openingBalance}</span></div>
        <div class="row"><span>Payments</span><span>${a.totals.payments}</span></div><div class="row"><span>Commissions</span><span>${a.totals.commissions}</span></div>
        <div class="row"><span>Refunds</span><span>${a.totals.refunds}</span></div><div class="row"><span>Closing balance</span><span>${a.closingBalance}</span></div>
        <table><tr><th>Time</th><th>Type</th><th>prepayId</th><th>Amount</th><th>Balance</th></tr>
        ${a.transactions.map((t) => html`<tr><td>${time(t.time)}</td><td>${t.type}</td><td class="mono">${t.prepayId ?? ''}</td><td>${t.amount}</td><td>${t.balance}</td></tr>`)}</table>`))}
      ${rep.assets.length === 0 ? card(html`<p class="muted">No transactions on ${date}.</p>`) : ''}`, ctx);
  });
  get('/reports.csv', async (req, reply, ctx) => {
    const date = String((req.query as any)?.date ?? today());
    const r = await deps.reports.daily(String(ctx.merchant.merchantId), date);
    if (!r.ok) return reply.code(400).type('text/plain').send('Not a valid date.');
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="rampart-${ctx.merchant.merchantId}-${date}.csv"`).send(reportCsv(r.value));
  });

  // ---- developers ----
  async function developersPage(reply: FastifyReply, ctx: Ctx, flash?: { ok?: string; error?: string; newKey?: { apiKey: string; apiSecret: string } }) {
    const id = String(ctx.merchant.merchantId);
    const keys = await accounts.listKeys(id);
    const active = keys.filter((k) => k.status === 'ACTIVE');
    const deliveries = await deps.webhooks.list({ ownerId: id, limit: 50 });
    return frame(reply, 'Developers', html`${card(html`<h1>Developers</h1>
        ${flash?.ok ? html`<div class="flash" id="flash">${flash.ok}</div>` : ''}${flash?.error ? html`<div class="error" id="flash">${flash.error}</div>` : ''}
        ${flash?.newKey ? html`<div class="card" id="new-key"><h2>New API key</h2><p>Copy the secret now: it is shown only once.</p>
          <div class="row"><span>API key</span><code id="new-api-key">${flash.newKey.apiKey}</code></div><div class="row"><span>Secret</span><code id="new-api-secret">${flash.newKey.apiSecret}</code></div></div>` : ''}
        <p class="muted">Merchant ID <span class="mono" id="merchant-id">${id}</span></p>`)}
      ${card(html`<h2>API keys</h2><table id="keys"><tr><th>API key</th><th>Created</th><th>Status</th><th></th></tr>
        ${keys.map((k) => html`<tr data-key="${k.apiKey}"><td class="mono">${k.apiKey}</td><td>${time(k.createdAt)}</td><td class="key-status">${k.status}</td>
          <td>${k.status === 'ACTIVE' ? html`<form class="inline" method="post" action="${BASE}/developers/keys/${k.apiKey}/revoke">${hidden(ctx.csrf)}<button class="btn secondary revoke" type="submit">Revoke</button></form>` : ''}</td></tr>`)}</table>
        <form method="post" action="${BASE}/developers/keys">${hidden(ctx.csrf)}<button class="btn" id="create-key" type="submit">Create API key</button></form>`)}
      ${card(html`<h2>IP whitelist</h2><form method="post" action="${BASE}/developers/ip-whitelist">${hidden(ctx.csrf)}
        <label for="ips">Addresses or CIDR ranges allowed to use your API keys (empty = any)</label><textarea id="ips" name="ipWhitelist">${(active[0]?.ipWhitelist ?? []).join('\n')}</textarea>
        <button class="btn" type="submit">Save IP whitelist</button></form>`)}
      ${card(html`<h2>Webhook</h2><form method="post" action="${BASE}/developers/webhook">${hidden(ctx.csrf)}
        <label for="webhook-url">Webhook URL</label><input id="webhook-url" type="url" name="webhookUrl" value="${ctx.merchant.webhookUrl ?? ''}" maxlength="256" style="width:100%">
        <button class="btn" type="submit">Save webhook URL</button></form>
        <form method="post" action="${BASE}/developers/test-event">${hidden(ctx.csrf)}<button class="btn secondary" id="test-event" type="submit">Send test event</button></form>`)}
      ${card(html`<h2>Delivery log</h2>${deliveryTable(ctx, deliveries)}`)}`, ctx);
  }

  get('/developers', async (_req, reply, ctx) => developersPage(reply, ctx));
  post('/developers/keys', async (_req, reply, ctx) => {
    const res = await accounts.createKey(String(ctx.merchant.merchantId), (await accounts.listKeys(String(ctx.merchant.merchantId))).find((k) => k.status === 'ACTIVE')?.ipWhitelist);
    if (!res.ok) return developersPage(reply, ctx, { error: res.message ?? res.code });
    return developersPage(reply, ctx, { newKey: { apiKey: res.value.apiKey, apiSecret: res.value.apiSecret } });
  });
  post('/developers/keys/:apiKey/revoke', async (req, reply, ctx) => {
    const res = await accounts.revokeKey(String(ctx.merchant.merchantId), String((req.params as any).apiKey));
    return developersPage(reply, ctx, res.ok ? { ok: 'API key revoked.' } : { error: 'No such active key.' });
  });
  post('/developers/ip-whitelist', async (_req, reply, ctx, body) => {
    const res = await accounts.updateMerchant(String(ctx.merchant.merchantId), { ipWhitelist: ipsOf(body.ipWhitelist) });
    return developersPage(reply, ctx, res.ok ? { ok: 'IP whitelist saved.' } : { error: res.message ?? res.code });
  });
  post('/developers/webhook', async (_req, reply, ctx, body) => {
    const url = String(body.webhookUrl ?? '').trim();
    let valid = url === '';
    try {
      valid ||= url.length <= 256 && ['http:', 'https:'].includes(new URL(url).protocol);
    } catch { /* not a URL */ }
    if (!valid) return developersPage(reply, ctx, { error: 'Enter an http(s) URL of at most 256 characters.' });
    const res = await accounts.updateMerchant(String(ctx.merchant.merchantId), { webhookUrl: url || null });
    if (!res.ok) return developersPage(reply, ctx, { error: res.message ?? res.code });
    return developersPage(reply, { ...ctx, merchant: res.value }, { ok: 'Webhook URL saved.' });
  });
  post('/developers/test-event', async (_req, reply, ctx) => {
    const id = String(ctx.merchant.merchantId);
    if (!ctx.merchant.webhookUrl) return developersPage(reply, ctx, { error: 'Set a webhook URL first.' });
    // A signed delivery like any Pay webhook, with its own bizType so receivers never mistake it for a payment.
    await deps.db.tx((q) => enqueuePayWebhook(deps.outbox, q, {
      url: ctx.merchant.webhookUrl, ownerId: id, bizType: 'TEST', bizId: String(deps.ids.next()), bizStatus: 'TEST',
      data: { merchantId: id, message: 'Test event from the Rampart merchant dashboard' },
    }));
    return developersPage(reply, ctx, { ok: 'Test event queued.' });
  });
  post('/developers/deliveries/:id/redeliver', async (req, reply, ctx) => {
    const id = String((req.params as any).id);
    const d = /^\d{1,19}$/.test(id) ? await deps.webhooks.get(id) : null;
    if (!d || d.ownerId !== String(ctx.merchant.merchantId)) return developersPage(reply, ctx, { error: 'No such delivery.' });
    const res = await deps.webhooks.redeliver(id);
    return developersPage(reply, ctx, res.ok ? { ok: 'Delivery queued again.' } : { error: 'The delivery is still pending.' });
  });

  // ---- Partner features → Technical Vendor ----
  const scopeList = (scopes: string[]) => html`<ul class="scopes">${scopes.map((s) => html`<li><strong>${s}</strong> — ${SCOPE_TEXT[s] ?? s}</li>`)}</ul>`;
  const scopeBoxes = (allowed: string[], checked: string[], prefix: string) =>
    allowed.map((s) => html`<label class="choice"><input type="checkbox" name="scopes" value="${s}" id="${prefix}-${s}" ${checked.includes(s) ? html`checked` : ''}> <span><strong>${s}</strong> — ${SCOPE_TEXT[s] ?? s}</span></label>`);
  const expired = (a: Authorization) => (a.status === 'PENDING' && a.expiresAt <= clock.now()) || (a.status === 'REJECTED' && a.decidedAt !== null && a.decidedAt >= a.expiresAt);

  async function vendorPage(reply: FastifyReply, ctx: Ctx, flash?: { ok?: string; error?: string; created?: Authorization }) {
    const id = String(ctx.merchant.merchantId);
    const granted = await tsp.listForMerchant(id);
    const tspScopes = new Map<string, string[]>();
    for (const a of granted) if (!tspScopes.has(a.tspMerchantId)) tspScopes.set(a.tspMerchantId, (await accounts.getMerchant(a.tspMerchantId))?.tsp?.allowScopes ?? []);
    const own = ctx.merchant.tsp ? await tsp.listForTsp(id) : [];
    const blockedList = await tsp.listBlocked(id);
    const blocked = new Set(blockedList.map((b) => b.tspMerchantId));
    return frame(reply, 'Technical Vendor', html`${card(html`<h1>Technical Vendor</h1>
        ${flash?.ok ? html`<div class="flash" id="flash">${flash.ok}</div>` : ''}${flash?.error ? html`<div class="error" id="flash">${flash.error}</div>` : ''}
        ${flash?.created ? html`<div class="card" id="auth-link"><h2>Authorization link</h2><p>Share this link with merchant ${flash.created.merchantName}. It is valid for 24 hours, until ${time(flash.created.expiresAt)}.</p>
          <code id="auth-link-url">${tsp.reviewUrl(flash.created.authorizationId)}</code></div>` : ''}`)}
      ${card(html`<h2>Technical service providers you authorized</h2>${granted.length === 0 ? html`<p class="muted">None.</p>` : ''}
        ${granted.map((a) => html`<div class="card granted" data-auth="${a.authorizationId}"><div class="row"><span>${a.tspName}</span><strong class="auth-status">${a.status}</strong></div>
          <div class="muted">Authorization ${a.authorizationId} · ${time(a.createdAt)}</div>${scopeList(a.scopes)}
          <div class="muted">IP whitelist: ${a.ipWhitelist.length ? a.ipWhitelist.join(', ') : 'any'}</div>
          ${a.status === 'PENDING' && !expired(a) ? html`<div class="actions"><a class="btn secondary" href="${BASE}/review-authorization?authId=${a.authorizationId}">Review</a>
            <form class="inline" method="post" action="${BASE}/technical-vendor/${a.authorizationId}/dismiss">${hidden(ctx.csrf)}<button class="btn secondary dismiss" type="submit">Dismiss</button></form>
            ${blocked.has(a.tspMerchantId) ? '' : blockForm(ctx, a)}</div>` : ''}
          ${a.status === 'AUTHORIZED' ? html`<form method="post" action="${BASE}/technical-vendor/${a.authorizationId}/change">${hidden(ctx.csrf)}
              ${scopeBoxes(tspScopes.get(a.tspMerchantId) ?? a.scopes, a.scopes, `s${a.authorizationId}`)}
              <label>IP whitelist (empty = any)</label><textarea name="ipWhitelist">${a.ipWhitelist.join('\n')}</textarea>
              <button class="btn" type="submit">Change scopes</button></form>
            <form method="post" action="${BASE}/technical-vendor/${a.authorizationId}/disable">${hidden(ctx.csrf)}<button class="btn secondary disable" type="submit">Disable</button></form>` : ''}</div>`)}`)}
      ${blockedList.length ? card(html`<h2>Blocked providers</h2><p class="muted">Their new authorization requests are refused.</p><table id="blocked"><tr><th>Provider</th><th>Blocked</th><th></th></tr>
        ${blockedList.map((b) => html`<tr data-tsp="${b.tspMerchantId}"><td>${b.tspName}</td><td>${time(b.blockedAt)}</td>
          <td><form class="inline" method="post" action="${BASE}/technical-vendor/blocked/${b.tspMerchantId}/unblock">${hidden(ctx.csrf)}<button class="btn secondary unblock" type="submit">Unblock</button></form></td></tr>`)}</table>`) : ''}
      ${ctx.merchant.tsp ? card(html`<h2>Add authorization</h2><form method="post" action="${BASE}/technical-vendor/add" id="add-auth">${hidden(ctx.csrf)}
          <label for="merchantId">Merchant ID</label><input id="merchantId" name="merchantId" type="text" required>
          ${scopeBoxes(ctx.merchant.tsp.allowScopes, [], 'add')}
          <label for="add-ips">IP whitelist (optional)</label><textarea id="add-ips" name="ipWhitelist"></textarea>
          <button class="btn" type="submit">Submit</button></form>
        <h2>Your authorization requests</h2><table id="requests"><tr><th>Merchant</th><th>Status</th><th>Scopes</th><th></th></tr>
        ${own.map((a) => html`<tr><td>${a.merchantName} <span class="muted">${a.merchantId}</span></td><td>${expired(a) ? 'EXPIRED' : a.status}</td><td>${a.scopes.join(', ')}</td>
          <td><a href="${BASE}/technical-vendor/${a.authorizationId}">Details</a></td></tr>`)}</table>`) : ''}`, ctx);
  }

  const blockForm = (ctx: Ctx, a: Authorization) => html`<form class="inline" method="post" action="${BASE}/technical-vendor/${a.authorizationId}/block">${hidden(ctx.csrf)}<button class="btn secondary block" type="submit">Block this provider</button></form>`;

  get('/technical-vendor', async (_req, reply, ctx) => vendorPage(reply, ctx));
  // Issue 13: a merchant can dismiss an unwanted request and block the provider (its creates then answer 406210).
  post('/technical-vendor/:authId/dismiss', async (req, reply, ctx) => {
    const res = await tsp.dismiss(String(ctx.merchant.merchantId), String((req.params as any).authId));
    return vendorPage(reply, ctx, res.ok ? { ok: `Request from ${res.value.tspName} dismissed.` } : { error: 'This request is no longer pending.' });
  });
  post('/technical-vendor/:authId/block', async (req, reply, ctx) => {
    const res = await tsp.block(String(ctx.merchant.merchantId), String((req.params as any).authId));
    if (!res.ok) return notFound(reply, ctx);
    return vendorPage(reply, ctx, { ok: `${res.value.tspName} is blocked: its pending requests were dismissed and new ones are refused.` });
  });
  post('/technical-vendor/blocked/:tspId/unblock', async (req, reply, ctx) => {
    const done = await tsp.unblock(String(ctx.merchant.merchantId), String((req.params as any).tspId));
    return vendorPage(reply, ctx, done ? { ok: 'Provider unblocked.' } : { error: 'This provider is not blocked.' });
  });
  post('/technical-vendor/add', async (_req, reply, ctx, body) => {
    if (!ctx.merchant.tsp) return vendorPage(reply, ctx, { error: 'Your account is not a technical service provider.' });
    const res = await tsp.create(String(ctx.merchant.merchantId), { merchantId: String(body.merchantId ?? '').trim(), scopes: listOf(body.scopes), ipWhitelist: ipsOf(body.ipWhitelist) }, 'MANUAL');
    if (!res.ok) {
      const text: Record<string, string> = { MERCHANT_NOT_FOUND: 'Invalid merchant id.', FIELD_MISSING: 'Select at least one permission.' };
      return vendorPage(reply, ctx, { error: text[res.code] ?? res.message ?? res.code });
    }
    return vendorPage(reply, ctx, { created: res.value });
  });
  get('/technical-vendor/:authId', async (req, reply, ctx) => {
    const a = await tsp.get(String((req.params as any).authId));
    if (!a || a.tspMerchantId !== String(ctx.merchant.merchantId)) return notFound(reply, ctx);
    return frame(reply, 'Authorization details', card(html`<h1>Authorization details</h1>
      <div class="row"><span>Authorization ID</span><span class="mono">${a.authorizationId}</span></div>
      <div class="row"><span>Merchant</span><span>${a.merchantName} (${a.merchantId})</span></div>
      <div class="row"><span>Status</span><strong id="detail-status">${expired(a) ? 'EXPIRED' : a.status}</strong></div>
      <div class="row"><span>Created</span><span>${time(a.createdAt)}</span></div>
      ${a.status === 'PENDING' ? html`<div class="row"><span>Link (valid until ${time(a.expiresAt)})</span><code>${tsp.reviewUrl(a.authorizationId)}</code></div>` : ''}
      ${a.status === 'AUTHORIZED' ? html`<div class="row"><span>Authorization token</span><code id="auth-token">${a.authorizationToken}</code></div>` : ''}
      ${scopeList(a.scopes)}<div class="muted">IP whitelist: ${a.ipWhitelist.length ? a.ipWhitelist.join(', ') : 'any'}</div>`), ctx);
  });
  post('/technical-vendor/:authId/change', async (req, reply, ctx, body) => {
    const res = await tsp.change(String(ctx.merchant.merchantId), String((req.params as any).authId), { scopes: listOf(body.scopes), ipWhitelist: ipsOf(body.ipWhitelist) });
    return vendorPage(reply, ctx, res.ok ? { ok: 'Scopes changed; the provider was notified.' } : { error: res.code === 'FIELD_MISSING' ? 'Keep at least one scope, or disable the authorization.' : res.message ?? 'This authorization cannot be changed.' });
  });
  post('/technical-vendor/:authId/disable', async (req, reply, ctx) => {
    const res = await tsp.disable(String(ctx.merchant.merchantId), String((req.params as any).authId));
    return vendorPage(reply, ctx, res.ok ? { ok: 'Authorization disabled; the provider was notified.' } : { error: 'This authorization is not active.' });
  });

  // ---- review page (spec §7.4) ----
  async function reviewPage(reply: FastifyReply, ctx: Ctx, authId: string, flash?: string) {
    const a = await tsp.get(authId);
    if (!a || a.merchantId !== String(ctx.merchant.merchantId)) return notFound(reply, ctx);
    const isExpired = expired(a);
    const open = a.status === 'PENDING' && !isExpired;
    return frame(reply, 'Review authorization', card(html`<h1>Authorization request</h1>
      ${flash ? html`<div class="flash" id="flash">${flash}</div>` : ''}
      <p><strong id="tsp-name">${a.tspName}</strong> asks to use Binance Pay APIs on behalf of <strong>${a.merchantName}</strong>. It never receives your funds: payments settle to your balance.</p>
      <h2>Permissions</h2>${scopeList(a.scopes)}
      <h2>IP whitelist</h2><p id="ips">${a.ipWhitelist.length ? a.ipWhitelist.join(', ') : 'Any IP address'}</p>
      <div class="row"><span>Requested</span><span>${time(a.createdAt)}</span></div>
      <div class="row"><span>Status</span><strong id="review-status">${isExpired ? 'EXPIRED' : a.status}</strong></div>
      ${isExpired ? html`<div class="error" id="expired">This authorization link has expired.</div>` : ''}
      ${open ? html`<form method="post" action="${BASE}/review-authorization">${hidden(ctx.csrf)}<input type="hidden" name="authId" value="${a.authorizationId}">
        <button class="btn" name="decision" value="AGREE" id="agree" type="submit">Approve</button>
        <button class="btn secondary" name="decision" value="REJECT" id="reject" type="submit">Reject</button></form>
        <p class="muted">Did not expect this request? Blocking rejects it and refuses this provider's future requests.</p>${blockForm(ctx, a)}` : ''}`), ctx);
  }
  get('/review-authorization', async (req, reply, ctx) => reviewPage(reply, ctx, String((req.query as any)?.authId ?? '')));
  post('/review-authorization', async (_req, reply, ctx, body) => {
    const authId = String(body.authId ?? '');
    const decision = body.decision === 'AGREE' ? 'AGREE' : body.decision === 'REJECT' ? 'REJECT' : null;
    if (!decision) return reviewPage(reply, ctx, authId);
    const res = await tsp.decide(authId, String(ctx.merchant.merchantId), decision);
    if (!res.ok && res.code === 'AUTH_NOT_FOUND') return notFound(reply, ctx);
    return reviewPage(reply, ctx, authId, res.ok ? (decision === 'AGREE' ? 'You approved this authorization.' : 'You rejected this authorization.') : undefined);
  });
}
