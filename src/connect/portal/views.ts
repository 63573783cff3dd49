import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { dataTable } from '../../web/layout.ts';
import { CONNECT_MESSAGES } from '../codes.ts';
import { GEN2_MESSAGES } from '../v2/codes.ts';
import type { ConnectOrder } from '../orders/store.ts';
import { DEFAULT_OVERLAP_MS, type Partner, type PartnerKey } from '../partners.ts';

/** The partner portal's pages (pure: data in, markup out); the controllers are in routes.ts. */
export const BASE = '/en/partner';

export type Authed = { partner: Partner; csrf: string };
export type Message = { error?: string; info?: string };
export const ORDER_STATUSES = ['INIT', 'PROCESSING', 'SUCCESS', 'FAILURE'];

const iso = (ms: number | null) =>
  ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
const messages = (msg?: Message) =>
  html`${
    msg?.error
      ? html`<div class="error"
    id="error">${msg.error}</div>`
      : ''
  }${msg?.info ? html`<div class="status ok" id="info">${msg.info}</div>` : ''}`;

/** The portal frame inside the layout: once logged in, the navigation with Log out (styles: src/web/layout.ts). */
export function portalFrame(body: SafeHtml, mode: string, a?: Authed, path = ''): SafeHtml {
  const link = (href: string, label: string) =>
    html`<a href="${BASE}${href}"${path.split('?')[0] === BASE + href ? html` aria-current="page"` : ''}>${label}</a>`;
  const nav = a
    ? html`<nav><span class="who">${a.partner.name} <span class="muted">${a.partner.code} · \
${mode === 'sandbox' ? 'test environment' : 'production'}</span></span>
      ${link('/orders', 'Orders')}${link('/settings', 'Settings')}${link('/keys', 'Keys')}${link(
        '/docs',
        'API documentation',
      )}
      <form class="inline" method="post" action="${BASE}/logout"><input type="hidden"
      name="_csrf" value="${a.csrf}"><button class="btn secondary" type="submit" id="logout">Log out</button></form></nav>`
    : '';
  return html`${nav}${body}`;
}

export const loginView = (csrf: string, msg?: Message) => html`<div class="card"><h1>Partner portal</h1>
    <p class="muted">Log in with the email address given at onboarding.</p>
    ${messages(msg)}
    <form method="post" action="${BASE}/login"><input type="hidden"
    name="_csrf" value="${csrf}"><label for="email">Email</label><input type="email" id="email" name="email" required>
    <label for="password">Password</label><input type="password" id="password" name="password" required>
    <button class="btn" type="submit" id="login">Log in</button></form></div>`;

export const setPasswordView = (
  csrf: string,
  token: string,
  error?: string,
) => html`<div class="card"><h1>Set your portal password</h1>
    ${error ? html`<div class="error" id="error">${error}</div>` : ''}
    <form method="post" action="${BASE}/set-password"><input type="hidden"
    name="_csrf" value="${csrf}"><input type="hidden" name="token" value="${token}">
    <label for="password">New password (at least 10 characters)</label><input type="password" id="password"
    name="password" required minlength="10">
    <button class="btn" type="submit" id="set-password">Set password</button></form></div>`;

export const linkExpiredView = () =>
  html`<div class="card"><h1>This link is invalid or expired</h1><p>Ask your Rampart operator for a new one.</p></div>`;

const statusClass = (o: ConnectOrder) => (o.mainStatus === 'FAILURE' ? 'bad' : o.mainStatus === 'SUCCESS' ? 'ok' : '');

export function ordersView(v: { status?: string; search?: string; list: ConnectOrder[] }) {
  const { status, search, list } = v;
  return html`<div class="card"><h1>Orders</h1>
      <form method="get" action="${BASE}/orders"><div class="grid2">
      <div><label for="q">Search</label><input type="search" id="q" name="q"
      placeholder="merchantOrderId, externalOrderId or orderId" value="${search ?? ''}"></div>
      <div><label for="status">Status</label><select id="status" name="status"><option value="">All \
statuses</option>${ORDER_STATUSES.map(
    (s) => html`<option
        ${s === status ? 'selected' : ''}>${s}</option>`,
  )}</select></div></div>
      <button class="btn" type="submit">Search</button></form></div>
      <div class="card">${
        list.length === 0
          ? html`<p class="muted" id="no-orders">No orders yet.</p>`
          : dataTable({
              id: 'orders',
              rows: list,
              rowAttrs: (o) => html` data-merchant-order-id="${o.merchantOrderId}"`,
              columns: [
                { label: 'Created', cell: (o) => iso(o.createdAt) },
                {
                  label: 'Your order id',
                  // Generation 2's externalOrderId lives beside generation 1's merchantOrderId (§12.2).
                  cell: (o) =>
                    o.generation === 2
                      ? html`${o.merchantOrderId} <span class="tag plain">gen 2</span>`
                      : o.merchantOrderId,
                  cls: 'mono',
                },
                { label: 'orderId', cell: (o) => o.orderId, cls: 'mono' },
                { label: 'Amount', cell: (o) => displayAmount(o.orderAmount, o.fiatCurrency) },
                { label: 'Crypto', cell: (o) => `${o.cryptoCurrency} on ${o.cryptoNetwork}` },
                {
                  label: 'Status',
                  cell: (o) =>
                    html`<span class="${statusClass(o)}">${o.mainStatus} / ${o.subStatus}${
                      o.generation === 2 && o.gen2Status !== null ? ` · status ${o.gen2Status}` : ''
                    }</span>`,
                  cls: 'order-status',
                },
                {
                  label: 'Failure reason',
                  cell: (o) => (o.errorCode ? html`${o.errorCode}: ${o.errorReason}` : ''),
                  cls: 'order-error',
                },
              ],
            })
      }</div>`;
}

export const settingsView = (a: Authed, msg?: Message) => html`<div class="card"><h1>Settings</h1>
    ${messages(msg)}
    <form method="post" action="${BASE}/settings"><input type="hidden" name="_csrf" value="${a.csrf}">
    <label for="ipWhitelist">IP whitelist (one address or CIDR range per line; API calls from other addresses get \
OPE100000005)</label>
    <textarea id="ipWhitelist" name="ipWhitelist">${a.partner.ipWhitelist.join('\n')}</textarea>
    <label for="redirectDomains">Redirect domains (host names allowed in merchantRedirectUrl)</label>
    <textarea id="redirectDomains" name="redirectDomains">${a.partner.redirectDomains.join('\n')}</textarea>
    <label for="webhookUrl">Order-status webhook URL (empty: no webhooks, poll query-order-list)</label>
    <input type="url" id="webhookUrl" name="webhookUrl" value="${a.partner.webhookUrl ?? ''}">
    <button class="btn" type="submit" id="save-settings">Save</button></form></div>`;

/** A PEM's body as one line: the bare base64 SPKI DER gen-2 partners are given (binance-connect-v2.md §8). */
const derBase64 = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

/** Label and value rows, as the buy flow's figures are laid out. */
const facts = (rows: [string, unknown][]) => rows.map(([k, v]) => html`<div class="row"><span>${k}</span>${v}</div>`);

/**
 * Both generations' credentials (binance-connect-v2.md §12.1, §13): the gen-1 merchantCode, the gen-2 client id and
 * whether a sign access token is set, with the form that issues a new one. `newToken`: the token just issued, shown
 * on this answer only (it is stored hashed).
 */
function credentialsCard(a: Authed, newToken?: string, msg?: Message) {
  return html`<div class="card" id="credentials"><h1>Credentials</h1>${messages(msg)}
      ${facts([
        ['merchantCode (generation 1)', html`<code id="merchant-code">${a.partner.code}</code>`],
        [
          'X-Tesla-ClientId (generation 2; also the webhook partner code)',
          html`<code id="client-id">${a.partner.clientId}</code>`,
        ],
        [
          'X-Tesla-SignAccessToken (generation 2)',
          html`<span id="sign-token-state">${a.partner.hasSignToken ? 'set' : 'not set'}</span>`,
        ],
      ])}
      ${
        newToken
          ? html`<label for="sign-token">Your new sign access token</label>
      <textarea id="sign-token" readonly rows="2" class="mono">${newToken}</textarea>
      <p class="error"><strong>Shown once.</strong> Copy it now: it is stored hashed and this page is the only time it is
      shown. The previous token no longer works.</p>`
          : ''
      }
      <form method="post" action="${BASE}/sign-token"><input type="hidden" name="_csrf" value="${a.csrf}">
      <p class="muted">Issuing a new token shows it once; the current token stops working at once, so update your
      servers straight after.</p>
      <button class="btn secondary" type="submit" id="issue-sign-token">Issue a new sign access token</button></form>
      </div>`;
}

export function keysView(
  a: Authed,
  v: { keys: PartnerKey[]; activeIds: Set<string>; platformKeyPem: string; newToken?: string },
  msg?: Message,
) {
  const { keys, activeIds } = v;
  // The answer to issuing a token is read in the credentials card, beside the token; the rest in the keys card.
  return html`${credentialsCard(a, v.newToken, v.newToken ? msg : undefined)}<div class="card"><h1>Your public keys</h1>
      ${v.newToken ? '' : messages(msg)}
      <p class="muted">Requests of both generations verify against any active key. A new key is active at once; the \
previous key keeps working until the end of the overlap period.</p>
      ${dataTable({
        id: 'keys',
        rows: keys,
        rowAttrs: (k) => html` class="key ${activeIds.has(k.id) ? 'active' : 'expired'}"`,
        columns: [
          { label: 'Fingerprint (SHA-256)', cell: (k) => html`<code>${k.fingerprint.slice(0, 32)}…</code>` },
          { label: 'Bits', cell: (k) => k.bits },
          { label: 'Added', cell: (k) => iso(k.createdAt) },
          {
            label: 'State',
            cell: (k) =>
              activeIds.has(k.id)
                ? k.expiresAt === null
                  ? html`<span class="ok">active</span>`
                  : html`<span>active until ${iso(k.expiresAt)}</span>`
                : html`<span class="bad">expired ${iso(k.expiresAt)}</span>`,
          },
        ],
      })}</div>
      <div class="card"><h2>Rotate: add a new public key</h2>
      <form method="post" action="${BASE}/keys"><input type="hidden" name="_csrf" value="${a.csrf}">
      <label for="publicKey">RSA public key, at least 1024 bits: PEM (openssl rsa -in rsa_pkcs1.pri -pubout) or the \
bare base64 of its DER (openssl rsa -in rsa_pkcs1.pri -pubout -outform DER | base64 -w0)</label><textarea id="publicKey"
      name="publicKey" required></textarea>
      <label for="overlapHours">Overlap: hours the current key keeps working</label><input type="text" id="overlapHours"
      name="overlapHours" inputmode="decimal" value="${String(DEFAULT_OVERLAP_MS / 3_600_000)}">
      <button class="btn" type="submit" id="add-key">Add key</button></form></div>
      <div class="card"><h2>Platform public key</h2>
      <p class="muted">Verify order-status webhooks (X-BN-Connect-Signature) of both generations with this key.</p>
      <pre id="platform-key">${v.platformKeyPem}</pre>
      <p class="muted">The same key as bare base64 DER (generation 2's "public key for webhook"):</p>
      <pre id="platform-key-der" style="white-space:pre-wrap;word-break:break-all">${derBase64(v.platformKeyPem)}</pre></div>`;
}

const OPERATIONS = [
  [
    'GET',
    'get-crypto-network-list',
    'Crypto × network: memo rules, address regex, withdrawal fee and limits, indicative USD price.',
  ],
  [
    'GET',
    'get-trade-pair-list',
    'Fiat × crypto pairs for card payments, with size (decimal places) and per-order min/max.',
  ],
  [
    'POST',
    'get-quote',
    'fiatCurrency, cryptoCurrency, cryptoNetwork, paymentMethod (CARD), fiatAmount[, countryCode] → quotePrice, ' +
      'userFee, networkFee, cryptoAmount.',
  ],
  [
    'POST',
    'buy-withdraw-crypto',
    'Creates an order (alias: trade): merchantOrderId, fiatCurrency, cryptoCurrency, orderAmount, withdrawCryptoInfo ' +
      '{cryptoNetwork, cryptoAddress, cryptoAddressMemo} → eternalRedirectUrl, token, orderId, expiredTime.',
  ],
  [
    'POST',
    'query-order-list',
    'merchantOrderId (or orderId) → the order with orderMainStatus, orderSubStatus, amounts, fees, price, ' +
      'withdrawTxHash, errorCode/errorReason.',
  ],
  ['POST', 'check-ip-address', 'clientUserIp → {status: pass | reject, countryCode}.'],
];

const GEN2_OPERATIONS = [
  ['buy/trading-pairs', 'Fiat and crypto currencies on offer.'],
  ['buy/p2p/trading-pairs', 'P2P-only pairs (none at Rampart).'],
  ['crypto-network', 'Networks per crypto: withdrawal fee, limits, address and memo rules.'],
  ['buy/payment-method-list', 'Methods and limits for one pair and amount (v1); all methods under /papi/v2/….'],
  ['buy/estimated-quote', 'Indicative price: totalAmount, quotePrice, feeAmount, networkFee.'],
  [
    'buy/pre-order',
    'Creates the order: externalOrderId, fiatCurrency, cryptoCurrency, amountType, requestedAmount, network, ' +
      'address[, memo, redirectUrl, failRedirectUrl, deep links, clientType, customization, userData] → link, ' +
      'linkExpireTime.',
  ],
  ['order', 'externalOrderId → the order: integer status, amounts, fees, withdrawTxHash, orderDetailLink.'],
];

/**
 * The API documentation of both generations (binance-connect.md, binance-connect-v2.md): base URLs, header sets and
 * signing, operations, webhooks and error codes; the full reference is /docs.
 */
export function docsView(a: Authed, baseUrl: string, gen2BaseUrl: string) {
  return html`<div class="card"><h1>API documentation</h1>
      <p>Rampart speaks both generations of the Binance Connect partner API on the same orders, keys and hosted buy
      flow; an order is seen only through the generation that created it. The full reference with every field:
      <a href="/docs#/Binance%20Connect" id="docs-gen1">generation 1</a> ·
      <a href="/docs#/Binance%20Connect%20(generation%202)" id="docs-gen2">generation 2</a>.</p>
      ${dataTable({
        id: 'generations',
        rows: [
          {
            gen: 'Generation 1',
            base: `${baseUrl}/`,
            headers: 'merchantCode, timestamp, x-api-signature',
            signed: '${rawBody}&merchantCode=…&timestamp=…',
            id: a.partner.code,
          },
          {
            gen: 'Generation 2',
            base: `${gen2BaseUrl}/`,
            headers: 'X-Tesla-ClientId, X-Tesla-SignAccessToken, X-Tesla-Timestamp, X-Tesla-Signature',
            signed: '${rawBody}${timestamp}',
            id: a.partner.clientId,
          },
        ],
        columns: [
          { label: 'API', cell: (g) => g.gen, cls: 'nowrap' },
          { label: 'Base URL', cell: (g) => html`<code>${g.base}</code>`, cls: 'base-url' },
          { label: 'Headers', cell: (g) => html`<code>${g.headers}</code>` },
          { label: 'Signed string', cell: (g) => html`<code>${g.signed}</code>` },
          { label: 'Your id', cell: (g) => html`<code>${g.id}</code>` },
        ],
      })}
      <p class="muted">Both sign with RSA-SHA256 (PKCS#1 v1.5), base64, your private key, over the exact body bytes,
      timestamps in Unix ms within 5 minutes. Register your public key on the <a href="${BASE}/keys">Keys</a> page
      (PEM or base64 DER); one key serves both.</p></div>
      <div class="card"><h1>Generation 1</h1>
      <p>Base URL: <code id="base-url">${baseUrl}/</code> · your merchantCode: <code>${a.partner.code}</code></p>
      <h2>Signing</h2><p>Headers <code>merchantCode</code>, <code>timestamp</code> (Unix ms, within 5 minutes), \
<code>x-api-signature</code>:
      base64 RSA-SHA256 (PKCS#1 v1.5) with your private key over the exact body bytes:</p>
      <pre>POST: \${rawBody}&amp;merchantCode=\${merchantCode}&amp;timestamp=\${timestamp}
GET or empty body: merchantCode=\${merchantCode}&amp;timestamp=\${timestamp}

printf '%s' "$S" &gt; msg; openssl dgst -sha256 -sign rsa_pkcs8.pri msg | base64 -w0</pre>
      <p>Every answer is HTTP 200 with <code>{"success", "code", "message", "messageDetail", "data"}</code>; success \
code <code>${a.partner.successCode}</code>.</p>
      <h2>Operations</h2><ul class="list" id="operations">${OPERATIONS.map(
        ([m, op, d]) => html`<li><div><span class="tag plain">${m}</span> <code>${op}</code></div>
        <div class="muted">${d}</div></li>`,
      )}</ul>
      <h2>Webhooks</h2><p>Each change of orderMainStatus/orderSubStatus is POSTed to your webhook URL with \
<code>X-BN-Connect-Timestamp</code>,
      <code>X-BN-Connect-For</code> and <code>X-BN-Connect-Signature</code> = base64 RSA-SHA256 by the platform key \
over \
<code>rawBody + timestamp</code>.
      Answer <code>{"returnCode":"SUCCESS","returnMessage":null}</code>; otherwise it is retried after 15 s, 1 min, 5 \
min, 30 min, 2 h and 6 h.</p>
      <h2>Error codes</h2>${dataTable({
        id: 'codes',
        cards: false,
        rows: Object.entries(CONNECT_MESSAGES),
        columns: [
          { label: 'Code', cell: ([c]) => html`<code>${c}</code>`, cls: 'nowrap' },
          { label: 'Message', cell: ([, m]) => m },
        ],
      })}</div>
      <div class="card" id="gen2-docs"><h1>Generation 2</h1>
      <p>Base URL: <code id="gen2-base-url">${gen2BaseUrl}/</code> · your X-Tesla-ClientId:
      <code>${a.partner.clientId}</code></p>
      <h2>Signing</h2><p>Every operation is a POST with a JSON body and four headers: <code>X-Tesla-ClientId</code>,
      <code>X-Tesla-SignAccessToken</code> (issued on the Keys page, shown once), <code>X-Tesla-Timestamp</code> (Unix
      ms) and <code>X-Tesla-Signature</code>: base64 RSA-SHA256 (PKCS#1 v1.5) with your private key over the body
      followed by the timestamp:</p>
      <pre>printf '%s%s' "$RAW_BODY" "$TS" &gt; msg; openssl dgst -sha256 -sign rsa_pkcs8.pri msg | base64 -w0</pre>
      <p>Every answer is HTTP 200 with <code>{"success", "code", "message", "data"}</code>; success code
      <code>000000</code>.</p>
      <h2>Operations</h2><ul class="list" id="gen2-operations">${GEN2_OPERATIONS.map(
        ([op, d]) => html`<li><div><span class="tag plain">POST</span> <code>${op}</code></div>
        <div class="muted">${d}</div></li>`,
      )}</ul>
      <h2>Landing link and return</h2><p>Send the user to <code>link</code> from pre-order in the system browser or
      your app: the page cannot be framed. When the order ends, "Back to" leads to <code>redirectUrl</code> (success)
      or <code>failRedirectUrl</code> (failure), or their deep links when <code>clientType</code> is
      <code>mobile</code>.</p>
      <h2>Webhooks</h2><p>Each change of the integer <code>status</code> (1, 2, 10, 11, 20, or a failure 96–99) is
      POSTed to your webhook URL as a <code>connect_order_event</code> with <code>X-BN-Connect-Timestamp</code>,
      <code>X-BN-Connect-For</code> (your client id) and <code>X-BN-Connect-Signature</code> = base64 RSA-SHA256 by the
      platform key over <code>rawBody + timestamp</code>. Answer <code>{"returnCode":"SUCCESS","returnMessage":null}</code>;
      retries as for generation 1.</p>
      <h2>Error codes</h2>${dataTable({
        id: 'gen2-codes',
        cards: false,
        rows: Object.entries(GEN2_MESSAGES),
        columns: [
          { label: 'Code', cell: ([c]) => html`<code>${c}</code>`, cls: 'nowrap' },
          { label: 'Message', cell: ([, m]) => m },
        ],
      })}</div>`;
}
