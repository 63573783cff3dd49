import type { FastifyInstance } from 'fastify';
import { html } from './html.ts';
import { page } from './layout.ts';

/**
 * What runs on this server, as one list: the landing page at `/` shows it and main.ts prints it at start-up, so the
 * two cannot drift apart. Paths only: the page and the banner put PUBLIC_URL in front.
 */
export interface DirectoryEntry {
  /** Short name, also the banner's label. */
  name: string;
  /** Where it is, from the server's root. */
  path: string;
  /** One line on what it is for. */
  about: string;
}

export interface ServiceDirectory {
  apis: DirectoryEntry[];
  pages: DirectoryEntry[];
  /** Sandbox-only tools (empty in production). */
  sandbox: DirectoryEntry[];
}

/** Where the sandbox seed writes the demo accounts (bootstrap.ts), relative to DATA_DIR. */
export const DEMO_CREDENTIALS_FILE = 'demo-credentials.json';

export function serviceDirectory(mode: string): ServiceDirectory {
  return {
    apis: [
      {
        name: 'Binance Pay',
        path: '/binancepay/openapi/...',
        about: 'Merchant API: orders, refunds, payouts, transfers; HMAC-SHA512 signed (BinancePay-* headers).',
      },
      {
        name: 'Binance Connect',
        path: '/gateway-api/v1/public/open-api/connect/...',
        about: 'Partner API (gen 1) for buying crypto with a card; RSA-SHA256 signed. Also under /bapi/fiat/v1/.',
      },
      {
        name: 'Binance Connect (current)',
        path: '/papi/v1/ramp/connect/...',
        about:
          'Partner API (gen 2, X-Tesla-* headers) on the same orders and buy flow; RSA-SHA256 over body + timestamp.',
      },
      {
        name: 'KYC sharing',
        path: '/bapi/ekyc/v2/public/ekyc/customer/...',
        about: "Brokers share their users' verified identity; HMAC-SHA256 signed.",
      },
      {
        name: 'Admin API',
        path: '/admin/v1/...',
        about: 'Operator API; bearer admin token.',
      },
    ],
    pages: [
      { name: 'API docs', path: '/docs', about: 'Every operation and its wire schema (OpenAPI at /openapi.json).' },
      { name: 'Dashboard', path: '/en/dashboard', about: 'Merchant dashboard: orders, refunds, reports, API keys.' },
      { name: 'Partner portal', path: '/en/partner', about: 'Connect partners: orders and integration docs.' },
      { name: 'Console', path: '/admin', about: 'Operator console: KYC review, merchants, partners, ledger.' },
      { name: 'Wallet', path: '/wallet', about: "Payers' wallet: balances, deposits, withdrawals." },
    ],
    sandbox:
      mode === 'sandbox'
        ? [
            {
              name: 'Dev mailbox',
              path: '/dev/mailbox',
              about: 'Mail the sandbox would have sent (console login or admin token).',
            },
            {
              name: 'Sandbox API',
              path: '/sandbox/v1/...',
              about: 'Move the clock, fund payers, pay orders, decide KYC; bearer admin token.',
            },
          ]
        : [],
  };
}

/** The start-up banner's lines for the directory: `  name  URL`. */
export function directoryBannerLines(mode: string, publicUrl: string): string[] {
  const d = serviceDirectory(mode);
  return [...d.apis, ...d.pages, ...d.sandbox].map((e) => `  ${e.name.padEnd(15)} ${publicUrl}${e.path}`);
}

const entryRow = (publicUrl: string, e: DirectoryEntry, link: boolean) =>
  html`<li class="dir-entry"><strong>${e.name}</strong>
    <div class="dir-url">${
      link ? html`<a href="${e.path}">${publicUrl}${e.path}</a>` : html`<code>${publicUrl}${e.path}</code>`
    }</div><div class="muted">${e.about}</div></li>`;

// Long base URLs wrap inside their line on a phone instead of widening the page.
const STYLE = html`<style>
  .dir{list-style:none;padding:0;margin:0}.dir-entry{padding:8px 0;border-bottom:1px solid #eaecef}
  .dir-entry:last-child{border-bottom:0}.dir-url{overflow-wrap:anywhere;font-size:14px;margin:2px 0}
  .dir-url code{font-size:13px}
</style>`;

/** The page at `/`: the API families with their base URLs, the pages, and in sandbox the tools and demo accounts. */
export function landingView(opts: { mode: string; publicUrl: string }) {
  const d = serviceDirectory(opts.mode);
  return html`${STYLE}<div class="card"><h1>Rampart</h1>
    <p class="muted">A self-hosted crypto payments platform, running in ${opts.mode} mode.</p></div>
    <div class="card" id="apis"><h2>APIs</h2><ul class="dir">${d.apis.map((e) =>
      entryRow(opts.publicUrl, e, false),
    )}</ul></div>
    <div class="card" id="pages"><h2>Pages</h2><ul class="dir">${d.pages.map((e) =>
      entryRow(opts.publicUrl, e, true),
    )}</ul></div>
    ${
      d.sandbox.length
        ? html`<div class="card" id="sandbox"><h2>Sandbox</h2><ul class="dir">${d.sandbox.map((e) =>
            entryRow(opts.publicUrl, e, !e.path.endsWith('...')),
          )}</ul>
    <p class="muted" id="demo-credentials">Demo accounts (merchant, payer, partner logins and API keys) are in
    <code>${DEMO_CREDENTIALS_FILE}</code> in the data directory (<code>data/</code> by default), written by the
    first start.</p></div>`
        : ''
    }`;
}

/**
 * `/`: the landing page for a browser; a client that asks for JSON only gets the same directory as JSON (with full
 * URLs), never HTML it cannot read.
 */
export function registerLanding(app: FastifyInstance, opts: { mode: string; publicUrl: string }) {
  app.get('/', { schema: { hide: true } }, async (req, reply) => {
    const accept = req.headers.accept ?? '';
    if (accept.includes('application/json') && !accept.includes('text/html')) {
      const d = serviceDirectory(opts.mode);
      const full = (es: DirectoryEntry[]) => es.map((e) => ({ ...e, url: `${opts.publicUrl}${e.path}` }));
      return reply.send({
        name: 'Rampart',
        mode: opts.mode,
        apis: full(d.apis),
        pages: full(d.pages),
        sandbox: full(d.sandbox),
      });
    }
    return reply
      .type('text/html; charset=utf-8')
      .send(page({ title: 'Rampart', body: landingView(opts), mode: opts.mode }));
  });
}
