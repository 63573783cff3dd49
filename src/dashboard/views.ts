import type { AccountsService, Merchant } from '../accounts/service.ts';
import type { Order } from '../pay/orders/service.ts';
import { featureEnabled, type Mode } from '../pay/features.ts';
import type { DailyReport } from '../pay/reports/service.ts';
import type { Delivery } from '../platform/outbox/delivery.ts';
import { SCOPE_TEXT, type Authorization, type TspService } from '../tsp/service.ts';
import type { RefundService } from '../pay/refunds/service.ts';
import { displayAmount, displayNumber } from '../web/amount.ts';
import { randomAlnum } from '../platform/crypto.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { dataTable } from '../web/layout.ts';
import { Decimal } from '../platform/money.ts';

/** The merchant dashboard's pages (pure: data in, markup out); the controllers are in routes.ts. */
export const BASE = '/en/dashboard';

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

const NAV: [string, string][] = [
  ['/orders', 'Orders'],
  ['/balances', 'Balances'],
  ['/payouts', 'Payouts'],
  ['/settlement', 'Settlement'],
  ['/contracts', 'Contracts'],
  ['/conversions', 'Convert'],
  ['/profit-sharing', 'Profit sharing'],
  ['/reports', 'Reports'],
  ['/sub-merchants', 'Sub-merchants'],
  ['/qr-codes', 'QR codes'],
  ['/developers', 'Developers'],
  // Binance's menu path is "Partner features → Technical Vendor"; the short name keeps the bar on one line.
  ['/technical-vendor', 'Technical Vendor'],
];

/**
 * The dashboard frame inside the layout: once logged in, the navigation (the section of `path` marked current) with
 * Log out. Styles: src/web/layout.ts.
 */
export function dashboardFrame(body: SafeHtml, ctx?: ViewCtx, path = '', mode: Mode = 'production'): SafeHtml {
  // Sections of a feature the operator enables (off by default in both modes) show only once it is on.
  const shown = ([href]: [string, string]) =>
    (href !== '/sub-merchants' || ctx?.merchant.features.channelPartner) &&
    (href !== '/qr-codes' || ctx?.merchant.features.merchantQrCode) &&
    // Convert and profit sharing are on by default in a sandbox: the mode's default applies unless the operator set it.
    (href !== '/conversions' || (ctx && featureEnabled(ctx.merchant, 'convert', mode))) &&
    (href !== '/profit-sharing' || (ctx && featureEnabled(ctx.merchant, 'profitSharing', mode)));
  const links = NAV.filter(shown).map(
    ([href, label]) =>
      html`<a href="${BASE}${href}"${
        path === BASE + href || path.startsWith(`${BASE}${href}/`) || path.startsWith(`${BASE}${href}?`)
          ? html` aria-current="page"`
          : ''
      }>${label}</a>`,
  );
  const nav = ctx
    ? html`<nav><span class="who">${ctx.merchant.name}</span>${links}
      <form class="inline" method="post" action="${BASE}/logout">${hidden(ctx.csrf)}<button class="btn secondary"
      type="submit">Log out</button></form></nav>`
    : '';
  return html`${nav}${body}`;
}

export const notFoundView = () => card(html`<h1>Not found</h1><p class="muted">Nothing here for this merchant.</p>`);
export const formExpiredView = () =>
  card(html`<h1>Forbidden</h1><p>The form has expired. Go back, reload and try again.</p>`);

// ---- login, set password ----

export function loginView(v: { csrf: string; next: string; error?: string; info?: string }) {
  return card(html`<h1>Merchant dashboard</h1>${v.error ? html`<div class="error">${v.error}</div>` : ''}${
    v.info ? html`<div class="flash" id="flash">${v.info}</div>` : ''
  }
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
      <form method="get" action="${BASE}/orders" id="filter"><div class="grid2">
        <div><label for="status">Status</label><select id="status"
        name="status"><option value="">Any</option>${ORDER_STATUSES.map(
          (s) => html`<option value="${s}"
          ${s === status ? html`selected` : ''}>${s}</option>`,
        )}</select></div>
        <div><label for="from">From (UTC date)</label><input id="from" type="date" name="from" value="${v.from ?? ''}">
        </div>
        <div><label for="to">To (UTC date, inclusive)</label><input id="to" type="date" name="to"
        value="${v.to ?? ''}"></div></div>
        <button class="btn" type="submit">Filter</button></form>`)}
      ${card(
        html`${dataTable({
          id: 'orders',
          rows: list,
          columns: [
            { label: 'Created', cell: (o) => time(o.createTime) },
            {
              label: 'prepayId',
              cell: (o) => html`<a class="mono" href="${BASE}/orders/${o.prepayId}">${o.prepayId}</a>`,
            },
            { label: 'merchantTradeNo', cell: (o) => o.merchantTradeNo, cls: 'mono' },
            { label: 'Amount', cell: (o) => displayAmount(o.orderAmount, o.currency) },
            { label: 'Status', cell: (o) => o.status, cls: 'status-cell' },
          ],
        })}${list.length === 0 ? html`<p class="muted">No orders match.</p>` : ''}`,
      )}`;
}

/** What a webhook is about, in words (its bizType and bizStatus are the wire's codes). */
const WEBHOOK_TEXT: Record<string, string> = {
  'PAY PAY_SUCCESS': 'Payment succeeded',
  'PAY PAY_CLOSED': 'Order closed',
  'PAY_REFUND REFUND_SUCCESS': 'Refund succeeded',
  'PAY_REFUND REFUND_REJECTED': 'Refund rejected',
  'TEST TEST': 'Test event',
};
const codeWords = (code: string) => code.replaceAll('_', ' ').toLowerCase();
export const webhookText = (d: Pick<Delivery, 'bizType' | 'bizStatus'>) =>
  WEBHOOK_TEXT[`${d.bizType} ${d.bizStatus}`] ??
  `${codeWords(d.bizType).replace(/^./, (c) => c.toUpperCase())}: ${codeWords(d.bizStatus)}`;
const DELIVERY_STATUS: Record<Delivery['status'], string> = {
  PENDING: 'waiting to be delivered',
  DELIVERED: 'delivered',
  FAILED: 'delivery failed',
};
const deliveryTag = (d: Delivery) =>
  html`<span class="tag ${d.status === 'DELIVERED' ? 'ok' : d.status === 'FAILED' ? '' : 'wait'}">${
    DELIVERY_STATUS[d.status]
  }</span>`;

function deliveryTable(ctx: ViewCtx, list: Delivery[]) {
  if (list.length === 0) return html`<p class="muted">No webhook deliveries.</p>`;
  return dataTable({
    cls: 'deliveries',
    rows: list,
    rowAttrs: (d) => html` data-delivery="${d.id}"`,
    columns: [
      { label: 'Created', cell: (d) => time(d.createdAt) },
      {
        label: 'Event',
        cls: 'delivery-event',
        cell: (d) =>
          html`${d.bizType === 'TEST' ? html`<span class="tag plain">Test event</span>` : webhookText(d)}<br>
          <span class="mono muted">${d.bizId}</span>`,
      },
      { label: 'URL', cell: (d) => d.url, cls: 'mono' },
      { label: 'Status', cell: deliveryTag },
      {
        label: 'Attempts',
        cell: (d) => {
          const last = d.attempts[d.attempts.length - 1];
          return html`${d.attempts.length}${
            last ? html` <span class="muted">(last: ${last.httpStatus ?? last.error ?? ''})</span>` : ''
          }`;
        },
      },
      {
        label: '',
        cell: (d) =>
          d.status !== 'PENDING'
            ? html`<form class="inline" method="post"
          action="${BASE}/developers/deliveries/${d.id}/redeliver">${hidden(ctx.csrf)}<button class="btn secondary"
          type="submit">Redeliver</button></form>`
            : '',
      },
    ],
  });
}

export type OrderRefund = Awaited<ReturnType<RefundService['listForOrder']>>[number];
const REFUND_STATUS: Record<OrderRefund['status'], string> = {
  PENDING: 'in progress',
  SUCCESS: 'succeeded',
  REJECTED: 'rejected',
};

/** What can still be refunded: the order amount less the refunds that succeeded or are in progress. */
export function refundableLeft(o: Order, refunds: OrderRefund[]): string {
  const taken = refunds
    .filter((r) => r.status !== 'REJECTED')
    .reduce((sum, r) => sum.plus(r.refundAmount), new Decimal(0));
  const left = new Decimal(o.orderAmount).minus(taken);
  return (left.isNegative() ? new Decimal(0) : left).toFixed(8);
}

/** The order's history as sentences, oldest first. */
function orderEvents(o: Order, refunds: OrderRefund[], deliveries: Delivery[]): [number, string][] {
  const amount = (v: string) => displayAmount(v, o.currency);
  const events: [number, string][] = [
    [
      o.createTime,
      `Order created for ${amount(o.orderAmount)} (API ${o.apiVersion})${
        o.creatorMerchantId !== o.merchantId ? `, by technical service provider ${o.creatorMerchantId}` : ''
      }.`,
    ],
  ];
  if (o.transactTime !== null && o.transactionId)
    events.push([o.transactTime, `Paid by the payer (transaction ${o.transactionId}).`]);
  if (o.closedTime !== null) events.push([o.closedTime, `Closed: ${codeWords(o.status)}.`]);
  for (const r of refunds) {
    events.push([
      r.createdAt,
      `Refund of ${amount(r.refundAmount)} requested${r.refundReason ? ` (“${r.refundReason}”)` : ''}.`,
    ]);
    if (r.completedAt !== null)
      events.push([r.completedAt, `Refund of ${amount(r.refundAmount)} ${REFUND_STATUS[r.status]}.`]);
  }
  for (const d of deliveries)
    events.push([d.createdAt, `“${webhookText(d)}” webhook sent to your URL: ${DELIVERY_STATUS[d.status]}.`]);
  return events.sort((a, b) => a[0] - b[0]);
}

/**
 * One order: its figures, its refunds and what is left to refund, the refund form while refundable, its history and
 * its webhook deliveries (oldest first).
 */
export function orderView(ctx: ViewCtx, o: Order, refunds: OrderRefund[], deliveries: Delivery[], flash?: Flash) {
  const refundable = ['PAID', 'REFUNDING', 'REFUNDED'].includes(o.status);
  const left = refundableLeft(o, refunds);
  const amount = (v: string) => displayAmount(v, o.currency);
  return html`${card(html`<h1>Order <span class="mono">${o.prepayId}</span></h1>
        ${flashBox(flash)}
        <div class="row"><span>Status</span><strong id="order-status">${o.status}</strong></div>
        <div class="row"><span>merchantTradeNo</span><span class="mono">${o.merchantTradeNo}</span></div>
        <div class="row"><span>Amount</span><span id="order-amount">${amount(o.orderAmount)}</span></div>
        <div class="row"><span>Commission</span><span>${o.commission === null ? '—' : amount(o.commission)}</span></div>
        <div class="row"><span>Product</span><span>${o.productName}</span></div>
        <div class="row"><span>Expires</span><span>${time(o.expireTime)}</span></div>`)}
      ${
        refunds.length > 0 || refundable
          ? card(html`<h2>Refunds</h2>
        ${
          refunds.length === 0
            ? html`<p class="muted" id="no-refunds">No refunds yet.</p>`
            : dataTable({
                id: 'refunds',
                rows: refunds,
                rowAttrs: (r) => html` data-refund="${r.refundId}"`,
                columns: [
                  { label: 'Requested', cell: (r) => time(r.createdAt) },
                  { label: 'Amount', cell: (r) => amount(r.refundAmount), cls: 'refund-amount' },
                  {
                    label: 'Status',
                    cls: 'refund-status',
                    cell: (r) =>
                      html`<span class="tag ${r.status === 'SUCCESS' ? 'ok' : r.status === 'PENDING' ? 'wait' : ''}"
                      >${REFUND_STATUS[r.status]}</span>`,
                  },
                  { label: 'Completed', cell: (r) => (r.completedAt === null ? '—' : time(r.completedAt)) },
                  { label: 'Reason', cell: (r) => r.refundReason ?? '' },
                ],
              })
        }
        <div class="row"><span>Left to refund</span><strong id="refundable-left">${amount(left)}</strong></div>
        ${
          refundable
            ? html`<form method="post" action="${BASE}/orders/${o.prepayId}/refund">${hidden(ctx.csrf)}<input
        type="hidden" name="requestKey" value="${randomAlnum(24)}">
        <label for="amount">Amount (${o.currency})</label><input id="amount" name="amount" type="text"
        inputmode="decimal" required>
        <label for="reason">Reason (optional)</label><input id="reason" name="reason" type="text" maxlength="256">
        <button class="btn" id="refund" type="submit">Refund</button></form>`
            : ''
        }`)
          : ''
      }
      ${card(
        html`<h2>Events</h2><ul class="list" id="events">${orderEvents(o, refunds, deliveries).map(
          ([at, what]) => html`<li><div class="small muted">${time(at)}</div><div>${what}</div></li>`,
        )}</ul>`,
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
      ${rep.assets.map((a) => {
        const n = (v: string) => displayNumber(v, a.asset);
        return card(html`<h2>${a.asset}</h2>
        <div class="row"><span>Opening balance</span><span>${n(a.openingBalance)}</span></div>
        <div class="row"><span>Payments</span><span>${n(a.totals.payments)}</span></div><div class="row">
        <span>Commissions</span><span>${n(a.totals.commissions)}</span></div>
        <div class="row"><span>Refunds</span><span>${n(a.totals.refunds)}</span></div><div class="row">
        <span>Closing balance</span><span>${n(a.closingBalance)}</span></div>
        ${dataTable({
          rows: a.transactions,
          columns: [
            { label: 'Time', cell: (t) => time(t.time) },
            { label: 'Type', cell: (t) => t.type },
            { label: 'prepayId', cell: (t) => t.prepayId ?? '', cls: 'mono' },
            { label: 'Amount', cell: (t) => n(t.amount) },
            { label: 'Balance', cell: (t) => n(t.balance) },
          ],
        })}`);
      })}
      ${rep.assets.length === 0 ? card(html`<p class="muted">No transactions on ${date}.</p>`) : ''}`;
}

// ---- developers ----

export type DevelopersFlash = Flash & {
  newKey?: { apiKey: string; apiSecret: string };
  /** The webhook URL as typed, when it was refused. */
  webhookUrl?: string;
};

export function developersView(ctx: ViewCtx, keys: ApiKeys, deliveries: Delivery[], flash?: DevelopersFlash) {
  // A refused webhook URL stays in the field, so the merchant corrects it instead of typing it again.
  const webhookUrl = flash?.webhookUrl ?? ctx.merchant.webhookUrl ?? '';
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
      ${card(html`<h2>API keys</h2>${dataTable({
        id: 'keys',
        rows: keys,
        rowAttrs: (k) => html` data-key="${k.apiKey}"`,
        columns: [
          { label: 'API key', cell: (k) => k.apiKey, cls: 'mono' },
          { label: 'Created', cell: (k) => time(k.createdAt) },
          { label: 'Status', cell: (k) => k.status, cls: 'key-status' },
          {
            label: '',
            cell: (k) =>
              k.status === 'ACTIVE'
                ? html`<form class="inline" method="post"
            action="${BASE}/developers/keys/${k.apiKey}/revoke">${hidden(ctx.csrf)}<button class="btn secondary revoke"
            type="submit">Revoke</button></form>`
                : '',
          },
        ],
      })}
        <form method="post" action="${BASE}/developers/keys">${hidden(ctx.csrf)}<button class="btn" id="create-key"
        type="submit">Create API key</button></form>`)}
      ${card(html`<h2>IP whitelist</h2><form method="post" action="${BASE}/developers/ip-whitelist">${hidden(ctx.csrf)}
        <label for="ips">Addresses or CIDR ranges allowed to use your API keys (empty = any)</label><textarea id="ips"
        name="ipWhitelist">${(active[0]?.ipWhitelist ?? []).join('\n')}</textarea>
        <button class="btn" type="submit">Save IP whitelist</button></form>`)}
      ${card(html`<h2>Webhook</h2><form method="post" action="${BASE}/developers/webhook">${hidden(ctx.csrf)}
        <label for="webhook-url">Webhook URL</label><input id="webhook-url" type="url" name="webhookUrl"
        value="${webhookUrl}" maxlength="256"${flash?.webhookUrl !== undefined ? html` aria-invalid="true"` : ''}>
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
            ${dataTable({
              id: 'blocked',
              rows: blockedList,
              rowAttrs: (b) => html` data-tsp="${b.tspMerchantId}"`,
              columns: [
                { label: 'Provider', cell: (b) => b.tspName },
                { label: 'Blocked', cell: (b) => time(b.blockedAt) },
                {
                  label: '',
                  cell: (b) => html`<form class="inline" method="post"
          action="${BASE}/technical-vendor/blocked/${b.tspMerchantId}/unblock">${hidden(ctx.csrf)}<button \
class="btn secondary unblock" type="submit">Unblock</button></form>`,
                },
              ],
            })}`)
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
        <h2>Your authorization requests</h2>${own.length === 0 ? html`<p class="muted" id="no-requests">None yet.</p>` : ''}${dataTable(
          {
            id: 'requests',
            rows: own,
            columns: [
              { label: 'Merchant', cell: (a) => html`${a.merchantName} <span class="muted">${a.merchantId}</span>` },
              { label: 'Status', cell: (a) => (expired(a) ? 'EXPIRED' : a.status) },
              { label: 'Scopes', cell: (a) => a.scopes.join(', ') },
              { label: '', cell: (a) => html`<a href="${BASE}/technical-vendor/${a.authorizationId}">Details</a>` },
            ],
          },
        )}`)
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
