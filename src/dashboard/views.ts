import type { AccountsService, Merchant } from '../accounts/service.ts';
import type { Order } from '../pay/orders/service.ts';
import type { DailyReport } from '../pay/reports/service.ts';
import type { Delivery } from '../platform/outbox/delivery.ts';
import { SCOPE_TEXT, type Authorization, type TspService } from '../tsp/service.ts';
import { html, type SafeHtml } from '../web/html.ts';

/** The merchant dashboard's pages (pure: data in, markup out); the controllers are in routes.ts. */
export const BASE = '/en/dashboard';

const DASH_CSS =
  `main{max-width:980px}` +
  `nav{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px;align-items:center}nav a{color:#1e2329}
select,textarea,input[type=number],input[type=date],input[type=url]{width:100%;padding:10px;border:1px solid ` +
  `#d0d4da;border-radius:8px;font-size:16px;font-family:inherit;background:#fff}
textarea{min-height:120px;font-family:ui-monospace,monospace;font-size:14px}.scroll{overflow-x:auto}
.list{list-style:none;padding:0;margin:0}.list li{padding:10px 0;border-bottom:1px solid #eaecef}` +
  `.list .row{display:flex;justify-content:space-between;gap:8px;flex-wrap:wrap;border-bottom:0;padding:2px 0}
.small{font-size:12px}.ok{color:#03a66d}.bad{color:#cf304a}.mono{word-break:break-all}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:0 16px}
table{width:100%;border-collapse:collapse;font-size:14px}` +
  `th,td{text-align:left;padding:6px;border-bottom:1px solid #eaecef;vertical-align:top}
.inline{display:inline}.inline .btn{display:inline-block;width:auto;min-height:40px;padding:6px ` +
  `12px;font-size:14px;margin:0}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}.actions .btn,.actions form{margin:0}
.flash{background:#e6f7ee;color:#03a66d;padding:8px 12px;border-radius:8px;margin:8px 0}` +
  `code,.mono{font-family:ui-monospace,monospace;word-break:break-all}
textarea{width:100%;min-height:60px;padding:8px;border:1px solid #d0d4da;border-radius:8px}` +
  `select,input[type=date],input[type=url]{padding:8px;border:1px solid #d0d4da;border-radius:8px}`;

/** What every logged-in page needs: the merchant (its name in the navigation) and the session's CSRF token. */
export interface ViewCtx {
  merchant: Merchant;
  csrf: string;
}
export type Flash = { ok?: string; error?: string };
type ApiKeys = Awaited<ReturnType<AccountsService['listKeys']>>;

export const time = (ms: number | null) =>
  ms === null ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
export const hidden = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;
export const card = (inner: SafeHtml | SafeHtml[] | string) => html`<div class="card">${inner}</div>`;
export const flashBox = (flash?: Flash) =>
  html`${flash?.ok ? html`<div class="flash" id="flash">${flash.ok}</div>` : ''}${
    flash?.error ? html`<div class="error" id="flash">${flash.error}</div>` : ''
  }`;

/** The dashboard frame inside the layout: its styles and, once logged in, the navigation with Log out. */
export function dashboardFrame(body: SafeHtml, ctx?: ViewCtx): SafeHtml {
  const nav = ctx
    ? html`<nav><strong>${ctx.merchant.name}</strong>
      <a href="${BASE}/orders">Orders</a><a href="${BASE}/balances">Balances</a><a href="${BASE}/payouts">Payouts</a>\
<a href="${BASE}/settlement">Settlement</a><a href="${BASE}/reports">Reports</a>
      ${ctx.merchant.features.channelPartner ? html`<a href="${BASE}/sub-merchants">Sub-merchants</a>` : ''}
      <a href="${BASE}/developers">Developers</a>\
<a href="${BASE}/technical-vendor">Partner features → Technical Vendor</a>
      <form class="inline" method="post" action="${BASE}/logout">${hidden(ctx.csrf)}<button class="btn secondary"
      type="submit">Log out</button></form></nav>`
    : '';
  return html`<style>${DASH_CSS}</style>${nav}${body}`;
}

export const notFoundView = () => card(html`<h1>Not found</h1><p class="muted">Nothing here for this merchant.</p>`);
export const formExpiredView = () =>
  card(html`<h1>Forbidden</h1><p>The form has expired. Go back, reload and try again.</p>`);

// ---- login, set password ----

export function loginView(v: { csrf: string; next: string; error?: string }) {
  return card(html`<h1>Merchant dashboard</h1>${v.error ? html`<div class="error">${v.error}</div>` : ''}
      <form method="post" action="${BASE}/login"><input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden"
      name="next" value="${v.next}">
        <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
        <label for="password">Password</label><input id="password" name="password" type="password"
        autocomplete="current-password" required>
        <button class="btn" type="submit">Log in</button></form>`);
}

export const linkInvalidView = () =>
  card(html`<h1>Link not valid</h1><p>This link is invalid, used or expired. Ask your operator for a new one.</p>`);

export function setPasswordView(v: { csrf: string; token: string }) {
  return card(html`<h1>Choose your password</h1>
      <form method="post" action="${BASE}/set-password"><input type="hidden"
      name="csrf" value="${v.csrf}"><input type="hidden" name="token" value="${v.token}">
      <label for="password">New password (at least 10 characters)</label><input id="password" name="password"
      type="password" autocomplete="new-password" required minlength="10">
      <button class="btn" type="submit">Set password</button></form>`);
}
export const setPasswordForbiddenView = () => card(html`<h1>Forbidden</h1>`);
export const passwordNotSetView = (message: string) =>
  card(html`<h1>Password not set</h1><div class="error">${message}</div>`);

// ---- orders ----

export const ORDER_STATUSES = [
  'INITIAL',
  'PENDING',
  'PAID',
  'CANCELED',
  'EXPIRED',
  'ERROR',
  'REFUNDING',
  'REFUNDED',
  'FULL_REFUNDED',
];

export function ordersView(v: { status?: string; from?: string; to?: string; list: Order[] }) {
  const { status, list } = v;
  return html`${card(html`<h1>Orders</h1>
      <form method="get" action="${BASE}/orders" id="filter">
        <label for="status">Status</label><select id="status"
        name="status"><option value="">Any</option>${ORDER_STATUSES.map(
          (s) => html`<option value="${s}"
          ${s === status ? html`selected` : ''}>${s}</option>`,
        )}</select>
        <label for="from">From (UTC date)</label><input id="from" type="date" name="from" value="${v.from ?? ''}">
        <label for="to">To (UTC date, inclusive)</label><input id="to" type="date" name="to" value="${v.to ?? ''}">
        <button class="btn" type="submit">Filter</button></form>`)}
      ${card(html`<table id="orders"><tr><th>Created</th><th>prepayId</th><th>merchantTradeNo</th><th>Amount</th>
        <th>Status</th></tr>
        ${list.map(
          (o) => html`<tr><td>${time(o.createTime)}</td><td><a class="mono"
          href="${BASE}/orders/${o.prepayId}">${o.prepayId}</a></td><td>${o.merchantTradeNo}</td>
          <td>${o.orderAmount} ${o.currency}</td><td class="status-cell">${o.status}</td></tr>`,
        )}
      </table>${list.length === 0 ? html`<p class="muted">No orders match.</p>` : ''}`)}`;
}

function deliveryTable(ctx: ViewCtx, list: Delivery[]) {
  if (list.length === 0) return html`<p class="muted">No webhook deliveries.</p>`;
  return html`<table class="deliveries"><tr><th>Created</th><th>Event</th><th>URL</th><th>Status</th><th>Attempts</th>
    <th></th></tr>
      ${list.map((d) => {
        const last = d.attempts[d.attempts.length - 1];
        return html`<tr><td>${time(d.createdAt)}</td><td>${d.bizType} ${d.bizStatus}<br>
          <span class="mono muted">${d.bizId}</span></td><td class="mono">${d.url}</td>
        <td>${d.status}</td><td>${d.attempts.length}${
          last
            ? html`<br>
          <span class="muted">last: ${last.httpStatus ?? last.error ?? ''}</span>`
            : ''
        }</td>
        <td>${
          d.status !== 'PENDING'
            ? html`<form class="inline" method="post"
          action="${BASE}/developers/deliveries/${d.id}/redeliver">${hidden(ctx.csrf)}<button class="btn secondary"
          type="submit">Redeliver</button></form>`
            : ''
        }</td></tr>`;
      })}</table>`;
}

/** One order: its figures, the refund form while refundable, its history and its webhook deliveries (oldest first). */
export function orderView(ctx: ViewCtx, o: Order, deliveries: Delivery[], flash?: Flash) {
  const events: [number, string][] = [
    [
      o.createTime,
      `Created (${o.apiVersion}${
        o.creatorMerchantId !== o.merchantId ? `, by technical service provider ${o.creatorMerchantId}` : ''
      })`,
    ],
  ];
  if (o.transactTime !== null && o.transactionId) events.push([o.transactTime, `Paid, transaction ${o.transactionId}`]);
  if (o.closedTime !== null) events.push([o.closedTime, `Closed as ${o.status}`]);
  for (const d of deliveries) events.push([d.createdAt, `Webhook ${d.bizType} ${d.bizStatus} queued`]);
  events.sort((a, b) => a[0] - b[0]);
  const refundable = ['PAID', 'REFUNDING', 'REFUNDED'].includes(o.status);
  return html`${card(html`<h1>Order <span class="mono">${o.prepayId}</span></h1>
        ${flashBox(flash)}
        <div class="row"><span>Status</span><strong id="order-status">${o.status}</strong></div>
        <div class="row"><span>merchantTradeNo</span><span>${o.merchantTradeNo}</span></div>
        <div class="row"><span>Amount</span><span>${o.orderAmount} ${o.currency}</span></div>
        <div class="row"><span>Commission</span><span>${o.commission ?? '—'}</span></div>
        <div class="row"><span>Product</span><span>${o.productName}</span></div>
        <div class="row"><span>Expires</span><span>${time(o.expireTime)}</span></div>`)}
      ${
        refundable
          ? card(html`<h2>Refund</h2><form method="post"
            action="${BASE}/orders/${o.prepayId}/refund">${hidden(ctx.csrf)}
        <label for="amount">Amount (${o.currency})</label><input id="amount" name="amount" type="text"
        inputmode="decimal" required>
        <label for="reason">Reason (optional)</label><input id="reason" name="reason" type="text" maxlength="256">
        <button class="btn" id="refund" type="submit">Refund</button></form>`)
          : ''
      }
      ${card(
        html`<h2>Events</h2><table id="events">${events.map(
          ([at, what]) => html`<tr><td>${time(at)}</td>
        <td>${what}</td></tr>`,
        )}</table>`,
      )}
      ${card(html`<h2>Webhook deliveries</h2>${deliveryTable(ctx, deliveries)}`)}`;
}

// ---- balances and reports ----

export const reportDateInvalidView = (date: string) =>
  card(html`<h1>Daily reconciliation</h1><div class="error">Not a valid date: ${date}</div>`);

export function reportView(date: string, rep: DailyReport) {
  return html`${card(html`<h1>Daily reconciliation</h1>
      <form method="get" action="${BASE}/reports"><label for="date">Date (UTC)</label><input id="date" type="date"
      name="date" value="${date}"><button class="btn" type="submit">Show</button></form>
      <div class="actions"><a class="btn secondary" id="csv" href="${BASE}/reports.csv?date=${date}">Download CSV</a>
      <a class="btn secondary" id="report-files"
      href="${BASE}/reports/files">Daily files and balance reports</a></div>`)}
      ${rep.assets.map((a) =>
        card(html`<h2>${a.asset}</h2>
        <div class="row"><span>Opening balance</span><span>${a.openingBalance}</span></div>
        <div class="row"><span>Payments</span><span>${a.totals.payments}</span></div><div class="row">
        <span>Commissions</span><span>${a.totals.commissions}</span></div>
        <div class="row"><span>Refunds</span><span>${a.totals.refunds}</span></div><div class="row">
        <span>Closing balance</span><span>${a.closingBalance}</span></div>
        <table><tr><th>Time</th><th>Type</th><th>prepayId</th><th>Amount</th><th>Balance</th></tr>
        ${a.transactions.map(
          (t) => html`<tr><td>${time(t.time)}</td><td>${t.type}</td>
          <td class="mono">${t.prepayId ?? ''}</td><td>${t.amount}</td><td>${t.balance}</td></tr>`,
        )}</table>`),
      )}
      ${rep.assets.length === 0 ? card(html`<p class="muted">No transactions on ${date}.</p>`) : ''}`;
}

// ---- developers ----

export type DevelopersFlash = Flash & { newKey?: { apiKey: string; apiSecret: string } };

export function developersView(ctx: ViewCtx, keys: ApiKeys, deliveries: Delivery[], flash?: DevelopersFlash) {
  const id = String(ctx.merchant.merchantId);
  const active = keys.filter((k) => k.status === 'ACTIVE');
  return html`${card(html`<h1>Developers</h1>
        ${flashBox(flash)}
        ${
          flash?.newKey
            ? html`<div class="card" id="new-key"><h2>New API key</h2><p>Copy the secret now: it is shown only once.</p>
          <div class="row"><span>API key</span><code id="new-api-key">${flash.newKey.apiKey}</code></div>
          <div class="row"><span>Secret</span><code id="new-api-secret">${flash.newKey.apiSecret}</code></div></div>`
            : ''
        }
        <p class="muted">Merchant ID <span class="mono" id="merchant-id">${id}</span></p>`)}
      ${card(html`<h2>API keys</h2><table id="keys"><tr><th>API key</th><th>Created</th><th>Status</th><th></th></tr>
        ${keys.map(
          (k) => html`<tr data-key="${k.apiKey}"><td class="mono">${k.apiKey}</td><td>${time(k.createdAt)}</td>
            <td class="key-status">${k.status}</td>
          <td>${
            k.status === 'ACTIVE'
              ? html`<form class="inline" method="post"
            action="${BASE}/developers/keys/${k.apiKey}/revoke">${hidden(ctx.csrf)}<button class="btn secondary revoke"
            type="submit">Revoke</button></form>`
              : ''
          }</td></tr>`,
        )}</table>
        <form method="post" action="${BASE}/developers/keys">${hidden(ctx.csrf)}<button class="btn" id="create-key"
        type="submit">Create API key</button></form>`)}
      ${card(html`<h2>IP whitelist</h2><form method="post" action="${BASE}/developers/ip-whitelist">${hidden(ctx.csrf)}
        <label for="ips">Addresses or CIDR ranges allowed to use your API keys (empty = any)</label><textarea id="ips"
        name="ipWhitelist">${(active[0]?.ipWhitelist ?? []).join('\n')}</textarea>
        <button class="btn" type="submit">Save IP whitelist</button></form>`)}
      ${card(html`<h2>Webhook</h2><form method="post" action="${BASE}/developers/webhook">${hidden(ctx.csrf)}
        <label for="webhook-url">Webhook URL</label><input id="webhook-url" type="url" name="webhookUrl"
        value="${ctx.merchant.webhookUrl ?? ''}" maxlength="256" style="width:100%">
        <button class="btn" type="submit">Save webhook URL</button></form>
        <form method="post" action="${BASE}/developers/test-event">${hidden(ctx.csrf)}<button class="btn secondary"
        id="test-event" type="submit">Send test event</button></form>`)}
      ${card(html`<h2>Delivery log</h2>${deliveryTable(ctx, deliveries)}`)}`;
}

// ---- Partner features → Technical Vendor ----

/** An authorization request is expired once PENDING past its link's validity, or rejected by the expiry sweep. */
const isExpired = (a: Authorization, now: number) =>
  (a.status === 'PENDING' && a.expiresAt <= now) ||
  (a.status === 'REJECTED' && a.decidedAt !== null && a.decidedAt >= a.expiresAt);
const scopeList = (scopes: string[]) =>
  html`<ul class="scopes">${scopes.map((s) => html`<li><strong>${s}</strong> — ${SCOPE_TEXT[s] ?? s}</li>`)}</ul>`;
const scopeBoxes = (allowed: string[], checked: string[], prefix: string) =>
  allowed.map(
    (s) =>
      html`<label class="choice"><input type="checkbox" name="scopes" value="${s}" id="${prefix}-${s}"
        ${checked.includes(s) ? html`checked` : ''}>
        <span><strong>${s}</strong> — ${SCOPE_TEXT[s] ?? s}</span></label>`,
  );
const blockForm = (ctx: ViewCtx, a: Authorization) =>
  html`<form class="inline" method="post"
    action="${BASE}/technical-vendor/${a.authorizationId}/block">${hidden(ctx.csrf)}<button class="btn secondary block"
    type="submit">Block this provider</button></form>`;

export type VendorFlash = Flash & { created?: Authorization };
type ReviewUrl = TspService['reviewUrl'];

interface VendorData {
  now: number;
  reviewUrl: ReviewUrl;
  /** Authorizations this merchant granted, with the scopes each provider may ask for. */
  granted: Authorization[];
  tspScopes: Map<string, string[]>;
  /** This merchant's own requests, when it is a technical service provider. */
  own: Authorization[];
  blocked: { tspMerchantId: string; tspName: string; blockedAt: number }[];
}

export function vendorView(ctx: ViewCtx, d: VendorData, flash?: VendorFlash) {
  const { granted, own, blocked: blockedList, now } = d;
  const blocked = new Set(blockedList.map((b) => b.tspMerchantId));
  const expired = (a: Authorization) => isExpired(a, now);
  return html`${card(html`<h1>Technical Vendor</h1>
        ${flashBox(flash)}
        ${
          flash?.created
            ? html`<div class="card" id="auth-link"><h2>Authorization link</h2>
              <p>Share this link with merchant ${flash.created.merchantName}. It is valid for 24 hours, until \
${time(flash.created.expiresAt)}.</p>
          <code id="auth-link-url">${d.reviewUrl(flash.created.authorizationId)}</code></div>`
            : ''
        }`)}
      ${card(html`<h2>Technical service providers you authorized</h2>${
        granted.length === 0
          ? html`<p \
class="muted">None.</p>`
          : ''
      }
        ${granted.map(
          (a) => html`<div class="card granted"
            data-auth="${a.authorizationId}"><div class="row">
            <span>${a.tspName}</span><strong class="auth-status">${a.status}</strong></div>
          <div class="muted">Authorization ${a.authorizationId} · ${time(a.createdAt)}</div>${scopeList(a.scopes)}
          <div class="muted">IP whitelist: ${a.ipWhitelist.length ? a.ipWhitelist.join(', ') : 'any'}</div>
          ${
            a.status === 'PENDING' && !expired(a)
              ? html`<div class="actions"><a class="btn secondary"
                href="${BASE}/review-authorization?authId=${a.authorizationId}">Review</a>
            <form class="inline" method="post"
            action="${BASE}/technical-vendor/${a.authorizationId}/dismiss">${hidden(ctx.csrf)}<button \
class="btn secondary dismiss" type="submit">Dismiss</button></form>
            ${blocked.has(a.tspMerchantId) ? '' : blockForm(ctx, a)}</div>`
              : ''
          }
          ${
            a.status === 'AUTHORIZED'
              ? html`<form method="post"
                action="${BASE}/technical-vendor/${a.authorizationId}/change">${hidden(ctx.csrf)}
              ${scopeBoxes(d.tspScopes.get(a.tspMerchantId) ?? a.scopes, a.scopes, `s${a.authorizationId}`)}
              <label>IP whitelist (empty = any)</label><textarea \
name="ipWhitelist">${a.ipWhitelist.join('\n')}</textarea>
              <button class="btn" type="submit">Change scopes</button></form>
            <form method="post"
            action="${BASE}/technical-vendor/${a.authorizationId}/disable">${hidden(ctx.csrf)}<button \
class="btn secondary disable" type="submit">Disable</button></form>`
              : ''
          }</div>`,
        )}`)}
      ${
        blockedList.length
          ? card(html`<h2>Blocked providers</h2><p class="muted">Their new authorization requests are refused.</p>
            <table id="blocked"><tr><th>Provider</th><th>Blocked</th><th></th></tr>
        ${blockedList.map(
          (b) => html`<tr data-tsp="${b.tspMerchantId}"><td>${b.tspName}</td><td>${time(b.blockedAt)}</td>
          <td><form class="inline" method="post"
          action="${BASE}/technical-vendor/blocked/${b.tspMerchantId}/unblock">${hidden(ctx.csrf)}<button \
class="btn secondary unblock" type="submit">Unblock</button></form></td></tr>`,
        )}</table>`)
          : ''
      }
      ${
        ctx.merchant.tsp
          ? card(html`<h2>Add authorization</h2><form method="post" action="${BASE}/technical-vendor/add"
            id="add-auth">${hidden(ctx.csrf)}
          <label for="merchantId">Merchant ID</label><input id="merchantId" name="merchantId" type="text" required>
          ${scopeBoxes(ctx.merchant.tsp.allowScopes, [], 'add')}
          <label for="add-ips">IP whitelist (optional)</label><textarea id="add-ips" name="ipWhitelist"></textarea>
          <button class="btn" type="submit">Submit</button></form>
        <h2>Your authorization requests</h2><table id="requests"><tr><th>Merchant</th><th>Status</th><th>Scopes</th><th>
        </th></tr>
        ${own.map(
          (a) => html`<tr><td>${a.merchantName} <span class="muted">${a.merchantId}</span></td>
            <td>${expired(a) ? 'EXPIRED' : a.status}</td><td>${a.scopes.join(', ')}</td>
          <td><a href="${BASE}/technical-vendor/${a.authorizationId}">Details</a></td></tr>`,
        )}</table>`)
          : ''
      }`;
}

export function authorizationDetailsView(a: Authorization, now: number, reviewUrl: ReviewUrl) {
  return card(html`<h1>Authorization details</h1>
      <div class="row"><span>Authorization ID</span><span class="mono">${a.authorizationId}</span></div>
      <div class="row"><span>Merchant</span><span>${a.merchantName} (${a.merchantId})</span></div>
      <div class="row"><span>Status</span><strong \
id="detail-status">${isExpired(a, now) ? 'EXPIRED' : a.status}</strong></div>
      <div class="row"><span>Created</span><span>${time(a.createdAt)}</span></div>
      ${
        a.status === 'PENDING'
          ? html`<div class="row">
        <span>Link (valid until ${time(a.expiresAt)})</span><code>${reviewUrl(a.authorizationId)}</code></div>`
          : ''
      }
      ${
        a.status === 'AUTHORIZED'
          ? html`<div class="row">
        <span>Authorization token</span><code id="auth-token">${a.authorizationToken}</code></div>`
          : ''
      }
      ${scopeList(a.scopes)}<div class="muted">IP whitelist: \
${a.ipWhitelist.length ? a.ipWhitelist.join(', ') : 'any'}</div>`);
}

/** The authorization review page (binance-pay.md §7.4). */
export function reviewView(ctx: ViewCtx, a: Authorization, now: number, flash?: string) {
  const expired = isExpired(a, now);
  const open = a.status === 'PENDING' && !expired;
  return card(html`<h1>Authorization request</h1>
      ${flash ? html`<div class="flash" id="flash">${flash}</div>` : ''}
      <p><strong id="tsp-name">${a.tspName}</strong> asks to use Binance Pay APIs on behalf of \
<strong>${a.merchantName}</strong>. It never receives your funds: payments settle to your balance.</p>
      <h2>Permissions</h2>${scopeList(a.scopes)}
      <h2>IP whitelist</h2><p id="ips">${a.ipWhitelist.length ? a.ipWhitelist.join(', ') : 'Any IP address'}</p>
      <div class="row"><span>Requested</span><span>${time(a.createdAt)}</span></div>
      <div class="row"><span>Status</span><strong id="review-status">${expired ? 'EXPIRED' : a.status}</strong></div>
      ${expired ? html`<div class="error" id="expired">This authorization link has expired.</div>` : ''}
      ${
        open
          ? html`<form method="post" action="${BASE}/review-authorization">${hidden(ctx.csrf)}<input type="hidden"
            name="authId" value="${a.authorizationId}">
        <button class="btn" name="decision" value="AGREE" id="agree" type="submit">Approve</button>
        <button class="btn secondary" name="decision" value="REJECT" id="reject" type="submit">Reject</button></form>
        <p class="muted">Did not expect this request? Blocking rejects it and refuses this provider's future \
requests.</p>${blockForm(ctx, a)}`
          : ''
      }`);
}
