import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Sessions } from '../../accounts/service.ts';
import { safeEqual } from '../../platform/crypto.ts';
import type { SigningKeys } from '../../platform/signing-keys.ts';
import { createLoginCsrf } from '../../web/login-csrf.ts';
import { html, trusted, type SafeHtml } from '../../web/html.ts';
import { page } from '../../web/layout.ts';
import { CONNECT_MESSAGES } from '../codes.ts';
import type { ConnectOrders } from '../orders/service.ts';
import { DEFAULT_OVERLAP_MS, PLATFORM_KEY_PURPOSE, type Partner, type PartnerService } from '../partners.ts';
import { CONNECT_PREFIXES } from '../routes.ts';

/**
 * Partner admin portal (binance-connect.md §9) at /en/partner/...: login with the onboarding email and a password
 * set through the emailed link, orders with status and failure reasons, IP whitelist, public keys with rotation
 * overlap, webhook URL, redirect domains, and the API documentation. Server-rendered forms with a CSRF token.
 */
const COOKIE = 'rampart_partner';
/** Login CSRF (double submit, as the dashboard does): the login and set-password forms carry this cookie's value. */
const LOGIN_CSRF_COOKIE = 'rampart_partner_csrf';
const SUBJECT = 'connect_partner';
const BASE = '/en/partner';

const PORTAL_CSS = trusted(`<style>main{max-width:960px}.card{overflow-x:auto}table{width:100%;border-collapse:collapse;font-size:13px}th,td{text-align:left;padding:6px;border-bottom:1px solid #eaecef;vertical-align:top}
nav a{margin-right:12px}textarea{width:100%;min-height:90px;font-family:monospace;font-size:12px}code,pre{font-size:12px;white-space:pre-wrap;word-break:break-all}.ok{color:#03a66d}.bad{color:#cf304a}</style>`);

type Authed = { partner: Partner; csrf: string };
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const lines = (v: unknown) => str(v).split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC');

export function registerPartnerPortal(app: FastifyInstance, deps: {
  partners: PartnerService; orders: ConnectOrders; sessions: Sessions; signingKeys: SigningKeys; publicUrl: string; mode: 'sandbox' | 'production';
}) {
  const { partners, orders, sessions, signingKeys, publicUrl, mode } = deps;
  const secure = publicUrl.startsWith('https://');

  const render = (reply: FastifyReply, title: string, body: SafeHtml, a?: Authed, status = 200) => {
    const nav = a ? html`<nav class="card"><strong>${a.partner.name}</strong> <span class="muted">${a.partner.code} · ${mode === 'sandbox' ? 'test environment' : 'production'}</span><br>
      <a href="${BASE}/orders">Orders</a><a href="${BASE}/settings">Settings</a><a href="${BASE}/keys">Keys</a><a href="${BASE}/docs">API documentation</a>
      <form method="post" action="${BASE}/logout" style="display:inline"><input type="hidden" name="_csrf" value="${a.csrf}"><button type="submit" id="logout">Log out</button></form></nav>` : '';
    return reply.code(status).type('text/html; charset=utf-8').send(page({ title, mode, body: html`${PORTAL_CSS}${nav}${body}` }));
  };

  async function authed(req: FastifyRequest, reply: FastifyReply): Promise<Authed | null> {
    const s = await sessions.get(req.cookies[COOKIE], SUBJECT);
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
    if (!safeEqual(str((req.body as any)?._csrf), a.csrf)) {
      reply.code(403).type('text/plain').send('Invalid CSRF token.');
      return null;
    }
    return a;
  }

  const loginCsrfGuard = createLoginCsrf({ cookie: LOGIN_CSRF_COOKIE, path: BASE, secure, field: '_csrf' });
  const loginCsrf = loginCsrfGuard.token;
  const loginCsrfOk = loginCsrfGuard.ok;
  const EXPIRED_FORM = 'The form has expired; please try again.';

  const loginPage = (req: FastifyRequest, reply: FastifyReply, msg?: { error?: string; info?: string }, status = 200) => render(reply, 'Partner portal login', html`<div class="card"><h1>Partner portal</h1>
    <p class="muted">Log in with the email address given at onboarding.</p>
    ${msg?.error ? html`<div class="error" id="error">${msg.error}</div>` : ''}${msg?.info ? html`<div class="status ok" id="info">${msg.info}</div>` : ''}
    <form method="post" action="${BASE}/login"><input type="hidden" name="_csrf" value="${loginCsrf(req, reply)}"><label for="email">Email</label><input type="email" id="email" name="email" required>
    <label for="password">Password</label><input type="password" id="password" name="password" required>
    <button class="btn" type="submit" id="login">Log in</button></form></div>`, undefined, status);

  app.get(BASE, { schema: { hide: true } }, async (_req, reply) => reply.redirect(`${BASE}/orders`));
  app.get(`${BASE}/login`, { schema: { hide: true } }, async (req, reply) => loginPage(req, reply, (req.query as any)?.done ? { info: 'Password set. You can log in now.' } : undefined));
  app.post(`${BASE}/login`, { schema: { hide: true }, config: { rateLimit: { max: 10, timeWindow: 60_000 } } }, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (!loginCsrfOk(req)) return loginPage(req, reply, { error: EXPIRED_FORM }, 403);
    const p = await partners.login(str(b.email), str(b.password));
    if (!p) return loginPage(req, reply, { error: 'Wrong email or password.' }, 401);
    const s = await sessions.create(SUBJECT, p.code);
    reply.setCookie(COOKIE, s.cookie, { path: BASE, httpOnly: true, sameSite: 'lax', secure });
    return reply.redirect(`${BASE}/orders`);
  });
  app.post(`${BASE}/logout`, { schema: { hide: true } }, async (req, reply) => {
    const a = await authedPost(req, reply);
    if (!a) return reply;
    await sessions.destroy(req.cookies[COOKIE]);
    reply.clearCookie(COOKIE, { path: BASE });
    return reply.redirect(`${BASE}/login`);
  });

  const setPasswordPage = (req: FastifyRequest, reply: FastifyReply, token: string, error?: string, status = 200) => render(reply, 'Set your password', html`<div class="card"><h1>Set your portal password</h1>
    ${error ? html`<div class="error" id="error">${error}</div>` : ''}
    <form method="post" action="${BASE}/set-password"><input type="hidden" name="_csrf" value="${loginCsrf(req, reply)}"><input type="hidden" name="token" value="${token}">
    <label for="password">New password (at least 10 characters)</label><input type="password" id="password" name="password" required minlength="10">
    <button class="btn" type="submit" id="set-password">Set password</button></form></div>`, undefined, status);
  app.get(`${BASE}/set-password`, { schema: { hide: true } }, async (req, reply) => {
    const token = str((req.query as any)?.token);
    if (!(await partners.linkValid(token))) return render(reply, 'Link expired', html`<div class="card"><h1>This link is invalid or expired</h1><p>Ask your Rampart operator for a new one.</p></div>`, undefined, 410);
    return setPasswordPage(req, reply, token);
  });
  app.post(`${BASE}/set-password`, { schema: { hide: true } }, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (!loginCsrfOk(req)) return setPasswordPage(req, reply, str(b.token), EXPIRED_FORM, 403);
    const r = await partners.setPassword(str(b.token), str(b.password));
    if (!r.ok) return setPasswordPage(req, reply, str(b.token), r.message ?? r.code, 400);
    return reply.redirect(`${BASE}/login?done=1`);
  });

  app.get(`${BASE}/orders`, { schema: { hide: true } }, async (req, reply) => {
    const a = await authed(req, reply);
    if (!a) return reply;
    const q = req.query as Record<string, unknown>;
    const status = ['INIT', 'PROCESSING', 'SUCCESS', 'FAILURE'].includes(str(q.status)) ? str(q.status) : undefined;
    const search = str(q.q).trim() || undefined;
    const list = await orders.list(a.partner.code, { status, search, limit: 200 });
    return render(reply, 'Orders', html`<div class="card"><h1>Orders</h1>
      <form method="get" action="${BASE}/orders"><input type="text" name="q" placeholder="merchantOrderId or orderId" value="${search ?? ''}" style="width:60%">
      <select name="status"><option value="">All statuses</option>${['INIT', 'PROCESSING', 'SUCCESS', 'FAILURE'].map((s) => html`<option ${s === status ? 'selected' : ''}>${s}</option>`)}</select>
      <button type="submit">Search</button></form>
      ${list.length === 0 ? html`<p class="muted" id="no-orders">No orders yet.</p>` : html`<table id="orders"><thead><tr><th>Created</th><th>merchantOrderId</th><th>orderId</th><th>Amount</th><th>Crypto</th><th>Status</th><th>Failure reason</th></tr></thead><tbody>
      ${list.map((o) => html`<tr data-merchant-order-id="${o.merchantOrderId}"><td>${iso(o.createdAt)}</td><td>${o.merchantOrderId}</td><td><code>${o.orderId}</code></td>
        <td>${o.orderAmount} ${o.fiatCurrency}</td><td>${o.cryptoCurrency} on ${o.cryptoNetwork}</td>
        <td class="order-status ${o.mainStatus === 'FAILURE' ? 'bad' : o.mainStatus === 'SUCCESS' ? 'ok' : ''}">${o.mainStatus} / ${o.subStatus}</td>
        <td class="order-error">${o.errorCode ? html`${o.errorCode}: ${o.errorReason}` : ''}</td></tr>`)}</tbody></table>`}</div>`, a);
  });

  const settingsPage = (reply: FastifyReply, a: Authed, msg?: { error?: string; info?: string }) => render(reply, 'Settings', html`<div class="card"><h1>Settings</h1>
    ${msg?.error ? html`<div class="error" id="error">${msg.error}</div>` : ''}${msg?.info ? html`<div class="status ok" id="info">${msg.info}</div>` : ''}
    <form method="post" action="${BASE}/settings"><input type="hidden" name="_csrf" value="${a.csrf}">
    <label for="ipWhitelist">IP whitelist (one address or CIDR range per line; API calls from other addresses get OPE100000005)</label>
    <textarea id="ipWhitelist" name="ipWhitelist">${a.partner.ipWhitelist.join('\n')}</textarea>
    <label for="redirectDomains">Redirect domains (host names allowed in merchantRedirectUrl)</label>
    <textarea id="redirectDomains" name="redirectDomains">${a.partner.redirectDomains.join('\n')}</textarea>
    <label for="webhookUrl">Order-status webhook URL (empty: no webhooks, poll query-order-list)</label>
    <input type="text" id="webhookUrl" name="webhookUrl" value="${a.partner.webhookUrl ?? ''}">
    <button class="btn" type="submit" id="save-settings">Save</button></form></div>`, a);
  app.get(`${BASE}/settings`, { schema: { hide: true } }, async (req, reply) => {
    const a = await authed(req, reply);
    return a ? settingsPage(reply, a) : reply;
  });
  app.post(`${BASE}/settings`, { schema: { hide: true } }, async (req, reply) => {
    const a = await authedPost(req, reply);
    if (!a) return reply;
    const b = req.body as Record<string, unknown>;
    const r = await partners.updateSettings(a.partner.code, { ipWhitelist: lines(b.ipWhitelist), redirectDomains: lines(b.redirectDomains), webhookUrl: str(b.webhookUrl).trim() || null });
    if (!r.ok) return settingsPage(reply, a, { error: r.message ?? r.code });
    return settingsPage(reply, { ...a, partner: r.value }, { info: 'Saved.' });
  });

  const keysPage = async (reply: FastifyReply, a: Authed, msg?: { error?: string; info?: string }) => {
    const keys = await partners.keys(a.partner.code);
    const platform = await signingKeys.current(PLATFORM_KEY_PURPOSE);
    const active = await partners.activeKeys(a.partner.code);
    const activeIds = new Set(active.map((k) => k.id));
    return render(reply, 'Keys', html`<div class="card"><h1>Your public keys</h1>
      ${msg?.error ? html`<div class="error" id="error">${msg.error}</div>` : ''}${msg?.info ? html`<div class="status ok" id="info">${msg.info}</div>` : ''}
      <p class="muted">Requests verify against any active key. A new key is active at once; the previous key keeps working until the end of the overlap period.</p>
      <table id="keys"><thead><tr><th>Fingerprint (SHA-256)</th><th>Bits</th><th>Added</th><th>State</th></tr></thead><tbody>
      ${keys.map((k) => html`<tr class="key ${activeIds.has(k.id) ? 'active' : 'expired'}"><td><code>${k.fingerprint.slice(0, 32)}…</code></td><td>${k.bits}</td><td>${iso(k.createdAt)}</td>
        <td>${activeIds.has(k.id) ? (k.expiresAt === null ? html`<span class="ok">active</span>` : html`<span>active until ${iso(k.expiresAt)}</span>`) : html`<span class="bad">expired ${iso(k.expiresAt)}</span>`}</td></tr>`)}</tbody></table></div>
      <div class="card"><h2>Rotate: add a new public key</h2>
      <form method="post" action="${BASE}/keys"><input type="hidden" name="_csrf" value="${a.csrf}">
      <label for="publicKey">RSA public key PEM (openssl rsa -in rsa_pkcs1.pri -pubout), at least 1024 bits</label><textarea id="publicKey" name="publicKey" required></textarea>
      <label for="overlapHours">Overlap: hours the current key keeps working</label><input type="text" id="overlapHours" name="overlapHours" value="${String(DEFAULT_OVERLAP_MS / 3_600_000)}">
      <button class="btn" type="submit" id="add-key">Add key</button></form></div>
      <div class="card"><h2>Platform public key</h2><p class="muted">Verify order-status webhooks (X-BN-Connect-Signature) with this key.</p><pre id="platform-key">${platform.publicKeyPem}</pre></div>`, a);
  };
  app.get(`${BASE}/keys`, { schema: { hide: true } }, async (req, reply) => {
    const a = await authed(req, reply);
    return a ? keysPage(reply, a) : reply;
  });
  app.post(`${BASE}/keys`, { schema: { hide: true } }, async (req, reply) => {
    const a = await authedPost(req, reply);
    if (!a) return reply;
    const b = req.body as Record<string, unknown>;
    const hours = Number(str(b.overlapHours) || '24');
    if (!Number.isFinite(hours) || hours < 0) return keysPage(reply, a, { error: 'Overlap must be a number of hours.' });
    const r = await partners.addKey(a.partner.code, str(b.publicKey), Math.round(hours * 3_600_000));
    if (!r.ok) return keysPage(reply, a, { error: r.message ?? r.code });
    return keysPage(reply, a, { info: `Key ${r.value.fingerprint.slice(0, 16)}… added.` });
  });

  app.get(`${BASE}/docs`, { schema: { hide: true } }, async (req, reply) => {
    const a = await authed(req, reply);
    if (!a) return reply;
    const base = `${publicUrl}${CONNECT_PREFIXES[0]}`;
    const ops = [
      ['GET', 'get-crypto-network-list', 'Crypto × network: memo rules, address regex, withdrawal fee and limits, indicative USD price.'],
      ['GET', 'get-trade-pair-list', 'Fiat × crypto pairs for card payments, with size (decimal places) and per-order min/max.'],
      ['POST', 'get-quote', 'fiatCurrency, cryptoCurrency, cryptoNetwork, paymentMethod (CARD), fiatAmount[, countryCode] → quotePrice, userFee, networkFee, cryptoAmount.'],
      ['POST', 'buy-withdraw-crypto', 'Creates an order (alias: trade): merchantOrderId, fiatCurrency, cryptoCurrency, orderAmount, withdrawCryptoInfo {cryptoNetwork, cryptoAddress, cryptoAddressMemo} → eternalRedirectUrl, token, orderId, expiredTime.'],
      ['POST', 'query-order-list', 'merchantOrderId (or orderId) → the order with orderMainStatus, orderSubStatus, amounts, fees, price, withdrawTxHash, errorCode/errorReason.'],
      ['POST', 'check-ip-address', 'clientUserIp → {status: pass | reject, countryCode}.'],
    ];
    return render(reply, 'API documentation', html`<div class="card"><h1>API documentation</h1>
      <p>Base URL: <code id="base-url">${base}/</code> · your merchantCode: <code>${a.partner.code}</code></p>
      <h2>Signing</h2><p>Headers <code>merchantCode</code>, <code>timestamp</code> (Unix ms, within 5 minutes), <code>x-api-signature</code>:
      base64 RSA-SHA256 (PKCS#1 v1.5) with your private key over the exact body bytes:</p>
      <pre>POST: \${rawBody}&amp;merchantCode=\${merchantCode}&amp;timestamp=\${timestamp}
GET or empty body: merchantCode=\${merchantCode}&amp;timestamp=\${timestamp}

printf '%s' "$S" &gt; msg; openssl dgst -sha256 -sign rsa_pkcs8.pri msg | base64 -w0</pre>
      <p>Every answer is HTTP 200 with <code>{"success", "code", "message", "messageDetail", "data"}</code>; success code <code>${a.partner.successCode}</code>.</p>
      <h2>Operations</h2><table><tbody>${ops.map(([m, op, d]) => html`<tr><td>${m}</td><td><code>${op}</code></td><td>${d}</td></tr>`)}</tbody></table>
      <h2>Webhooks</h2><p>Each change of orderMainStatus/orderSubStatus is POSTed to your webhook URL with <code>X-BN-Connect-Timestamp</code>,
      <code>X-BN-Connect-For</code> and <code>X-BN-Connect-Signature</code> = base64 RSA-SHA256 by the platform key over <code>rawBody + timestamp</code>.
      Answer <code>{"returnCode":"SUCCESS","returnMessage":null}</code>; otherwise it is retried after 15 s, 1 min, 5 min, 30 min, 2 h and 6 h.</p>
      <h2>Error codes</h2><table id="codes"><tbody>${Object.entries(CONNECT_MESSAGES).map(([c, m]) => html`<tr><td><code>${c}</code></td><td>${m}</td></tr>`)}</tbody></table></div>`, a);
  });
}
