import { randomString } from '../../platform/crypto.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { AuditEntry } from '../audit-log.ts';
import type { OperatorRole } from '../operators.ts';

/** The operator console's shared pieces (pure: data in, markup out); each section's pages are in its own file. */
export const CONSOLE = '/admin';

export interface ConsoleCtx {
  operator: { id: string; email: string; role: OperatorRole };
  csrf: string;
  mode: string;
}
export type Flash = { ok?: string; error?: string };

export const time = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
/**
 * What every console form carries: the session's CSRF token, and a key drawn now that makes the form good once
 * (routes.ts claims it before acting; a re-posted form is refused).
 */
export const csrfField = (ctx: ConsoleCtx) =>
  html`<input type="hidden" name="csrf" value="${ctx.csrf}"><input type="hidden" name="formKey" value="${randomString(
    32,
  )}">`;
export const card = (inner: SafeHtml | SafeHtml[] | string) => html`<div class="card">${inner}</div>`;
export const flashBox = (flash?: Flash) =>
  html`${flash?.ok ? html`<div class="flash" id="flash">${flash.ok}</div>` : ''}${
    flash?.error ? html`<div class="error" id="flash">${flash.error}</div>` : ''
  }`;

/**
 * A table that turns into one card per row on a phone: each cell carries its column's label (`data-label`, shown by
 * the shared CSS below 600 px).
 */
export function table(columns: string[], rows: (SafeHtml | string | number | null)[][], empty: string): SafeHtml {
  if (rows.length === 0) return html`<p class="muted empty">${empty}</p>`;
  return html`<div class="table"><table class="cards"><thead><tr>${columns.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>${rows.map(
    (r) => html`<tr>${r.map((cell, i) => html`<td data-label="${columns[i]}">${cell ?? '—'}</td>`)}</tr>`,
  )}</tbody></table></div>`;
}

/** Label / value rows, as on the checkout's summary. */
export const facts = (rows: [string, SafeHtml | string | number | null | undefined][]) =>
  rows.map(([k, v]) => html`<div class="row"><span class="muted">${k}</span><span>${v ?? '—'}</span></div>`);

/** A one-button form posting to the console (with the session's CSRF token). */
export const actionButton = (ctx: ConsoleCtx, action: string, label: string, secondary = false, confirm?: string) =>
  html`<form class="inline" method="post" action="${action}">${csrfField(ctx)}<button class="btn${
    secondary ? ' secondary' : ''
  }" type="submit"${confirm ? html` data-confirm="${confirm}"` : ''}>${label}</button></form>`;

interface NavItem {
  href: string;
  label: string;
  roles: OperatorRole[];
  sandboxOnly?: boolean;
}
const NAV: NavItem[] = [
  { href: CONSOLE, label: 'Overview', roles: ['admin'] },
  { href: `${CONSOLE}/kyc`, label: 'KYC review', roles: ['admin', 'reviewer'] },
  { href: `${CONSOLE}/merchants`, label: 'Merchants', roles: ['admin'] },
  { href: `${CONSOLE}/partners`, label: 'Partners', roles: ['admin'] },
  { href: `${CONSOLE}/brokers`, label: 'Brokers', roles: ['admin'] },
  { href: `${CONSOLE}/orders`, label: 'Orders', roles: ['admin'] },
  { href: `${CONSOLE}/webhooks`, label: 'Webhooks', roles: ['admin'] },
  { href: `${CONSOLE}/ledger`, label: 'Ledger', roles: ['admin'] },
  { href: `${CONSOLE}/hot-wallets`, label: 'Hot wallets', roles: ['admin'] },
  { href: `${CONSOLE}/sandbox`, label: 'Sandbox', roles: ['admin'], sandboxOnly: true },
  { href: '/dev/mailbox', label: 'Mailbox', roles: ['admin'], sandboxOnly: true },
  { href: `${CONSOLE}/audit-log`, label: 'Audit log', roles: ['admin'] },
];

/** The console frame: the navigation an operator's role allows, who is logged in, Log out. */
export function consoleFrame(body: SafeHtml, ctx?: ConsoleCtx, flash?: Flash): SafeHtml {
  const nav = ctx
    ? html`<nav aria-label="Console"><strong>Operator console</strong>${NAV.filter(
        (n) => n.roles.includes(ctx.operator.role) && (!n.sandboxOnly || ctx.mode === 'sandbox'),
      ).map((n) => html`<a href="${n.href}">${n.label}</a>`)}
      <span class="muted small" id="operator">${ctx.operator.email} (${ctx.operator.role})</span>
      <form class="inline" method="post" action="${CONSOLE}/logout">${csrfField(ctx)}<button class="btn secondary"
      type="submit">Log out</button></form></nav>`
    : '';
  return html`${nav}${flashBox(flash)}${body}`;
}

export const notFoundView = () => card(html`<h1>Not found</h1><p class="muted">Nothing here.</p>`);
export const forbiddenView = () =>
  card(html`<h1>Not allowed</h1><p>Your role does not include this page. Ask an administrator.</p>`);
export const formUsedView = () =>
  card(html`<h1>Already done</h1><p>This form was already sent (a reload or a second click), so nothing was done
    again. Go back and reload the page to see where things stand.</p><p><a href="${CONSOLE}">Console home</a></p>`);
export const formExpiredView = () =>
  card(html`<h1>Form expired</h1><p>The form has expired. Go back, reload the page and try again.</p>`);

export function loginView(v: { csrf: string; next: string; error?: string; method: 'account' | 'token' }) {
  const hiddenFields = html`<input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="next"
    value="${v.next}">`;
  return html`${card(html`<h1>Operator console</h1>
    <p class="muted">Log in with your operator account: e-mail, password and the 6-digit code of your authenticator
    app.</p>${v.error ? html`<div class="error" id="login-error">${v.error}</div>` : ''}
    <form method="post" action="${CONSOLE}/login" id="account-login">${hiddenFields}
      <label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="username" required>
      <label for="password">Password</label><input id="password" name="password" type="password"
      autocomplete="current-password" required>
      <label for="code">Authenticator code</label><input id="code" name="code" type="text" inputmode="numeric"
      autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
      <button class="btn" type="submit">Log in</button></form>`)}
    ${card(html`<h2>With the admin token</h2>
    <p class="muted">The deployment's admin token (<code>ADMIN_TOKEN</code>, or <code>data/secrets.json</code>) logs
    in as an administrator. Create operator accounts with <code>npx rampart operator create --email … --role
    admin|reviewer</code>.</p>
    <form method="post" action="${CONSOLE}/login" id="token-login">${hiddenFields}<input type="hidden" name="method"
      value="token"><label for="token">Admin token</label><input id="token" name="token" type="password"
      autocomplete="off" required><button class="btn secondary" type="submit">Log in with the token</button></form>`)}`;
}

export function auditLogView(entries: AuditEntry[], olderHref: string | null): SafeHtml {
  return card(html`<h1>Audit log</h1>
    <p class="muted">Every operator action, from this console or the admin API, newest first.</p>
    ${auditTable(entries)}${olderHref ? html`<p><a href="${olderHref}">Older entries</a></p>` : ''}`);
}

export const auditTable = (entries: AuditEntry[]) =>
  table(
    ['Time', 'Who', 'Action', 'Result', 'Details'],
    entries.map((e) => [
      time(e.at),
      e.actorEmail ? `${e.actorEmail}` : e.actor === 'admin-token' ? 'Admin token' : e.actor,
      html`<span class="mono">${e.method} ${e.path}</span>`,
      e.status < 400
        ? html`<span class="ok">Done (${e.status})</span>`
        : html`<span class="bad">Refused (${e.status})</span>`,
      e.summary || '—',
    ]),
    'No operator actions yet.',
  );

export interface OverviewData {
  kycInReview: number;
  failedDeliveries: number;
  auditOk: boolean;
  auditProblems: number;
  hotWalletWarnings: string[];
  recent: AuditEntry[];
}

export function overviewView(d: OverviewData): SafeHtml {
  return html`${card(html`<h1>Overview</h1>
    ${facts([
      ['KYC records waiting for review', html`<a href="${CONSOLE}/kyc?status=REVIEW">${d.kycInReview}</a>`],
      ['Webhook deliveries that failed', html`<a href="${CONSOLE}/webhooks?status=FAILED">${d.failedDeliveries}</a>`],
      [
        'Ledger audit',
        d.auditOk
          ? html`<a class="ok" href="${CONSOLE}/ledger">Balanced</a>`
          : html`<a class="bad" href="${CONSOLE}/ledger">${d.auditProblems} problem(s)</a>`,
      ],
    ])}
    ${d.hotWalletWarnings.map((w) => html`<div class="error">${w}</div>`)}`)}
    ${card(html`<h2>Recent operator actions</h2>${auditTable(d.recent)}<p><a href="${CONSOLE}/audit-log">The whole
    audit log</a></p>`)}`;
}
