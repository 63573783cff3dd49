import { displayAmount } from '../../web/amount.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { ConsoleSection } from './routes.ts';
import { CONSOLE, card, table } from './views.ts';

/**
 * The hot wallets: per network and asset, the on-chain balance beside the ledger's inventory and the drift between
 * them, what customers hold in that asset, the withdrawals still to be paid, and the warning when the wallet cannot
 * cover them (GET /admin/v1/chain/hot-wallets).
 */
interface HotWalletRow {
  network: string;
  asset: string;
  address: string;
  onChain: string;
  ledger: string;
  drift: string;
  customerLiabilities: string;
  pendingWithdrawals: { count: number; amount: string };
  waitingForFunds: number;
  warning: string | null;
}

const isZero = (v: string) => /^-?0*(\.0*)?$/.test(v);

function hotWalletsView(rows: HotWalletRow[] | null, problems: string[]): SafeHtml {
  if (rows === null)
    return card(html`<h1>Hot wallets</h1><div class="error">The hot wallets could not be read from the chain.</div>`);
  return html`${card(html`<h1>Hot wallets</h1>
      <p class="muted">On-chain balance read from the node now, beside the ledger's inventory of the same wallet; a drift
      other than zero is a problem for the audit. Customer liabilities are what every customer account holds in the asset
      (all networks together).</p>
      ${rows.filter((r) => r.warning).map((r) => html`<div class="error hot-wallet-warning">${r.warning}</div>`)}
      ${problems.length > 0 ? html`<ul class="list" id="hot-wallet-problems">${problems.map((p) => html`<li class="mono bad">${p}</li>`)}</ul>` : ''}
      ${table(
        [
          'Network',
          'Asset',
          'Address',
          'On chain',
          'Ledger inventory',
          'Drift',
          'Customer liabilities',
          'Pending withdrawals',
        ],
        rows.map((r) => [
          r.network,
          r.asset,
          html`<span class="mono small">${r.address}</span>`,
          displayAmount(r.onChain, r.asset),
          displayAmount(r.ledger, r.asset),
          isZero(r.drift)
            ? html`<span class="ok">none</span>`
            : html`<span class="bad">${displayAmount(r.drift, r.asset)}</span>`,
          displayAmount(r.customerLiabilities, r.asset),
          html`${r.pendingWithdrawals.count} (${displayAmount(r.pendingWithdrawals.amount, r.asset)})${
            r.waitingForFunds > 0 ? html`<br><span class="bad">${r.waitingForFunds} waiting for funds</span>` : ''
          }`,
        ]),
        'No hot wallet is running (no chain network is configured).',
      )}`)}
    <p><a href="${CONSOLE}/ledger">The ledger audit</a></p>`;
}

export const hotWalletsSection: ConsoleSection = (pages) => {
  pages.get('/hot-wallets', async (_req, reply, ctx) => {
    const res = await pages.api(ctx, 'GET', '/admin/v1/chain/hot-wallets');
    return pages.frame(
      reply,
      'Hot wallets',
      hotWalletsView(res.ok ? res.body.hotWallets : null, res.ok ? (res.body.problems ?? []) : []),
      ctx,
    );
  });
};
