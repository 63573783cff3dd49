import type { Contract, DirectDebitService } from '../pay/directdebit/service.ts';
import { TERMINATION_WAY } from '../pay/directdebit/service.ts';
import { displayAmount } from '../web/amount.ts';
import { html } from '../web/html.ts';
import { dataTable } from '../web/layout.ts';
import { param, queryOf, type DashboardPages } from './pages.ts';
import { BASE, card, flashBox, hidden, time } from './views.ts';

/**
 * Direct debit contracts (binance-pay-extended.md §14): the merchant's contracts with their status, limits and debits,
 * and Terminate on a signed one (way 3, as /direct-debit/contract/termination: the same service call).
 */
type Row = Contract & { debits: number; debited: string };

const STATUS_CLASS: Record<string, string> = {
  CONTRACT_SIGNED: 'ok',
  CONTRACT_TERMINATED: 'bad',
  CONTRACT_EXPIRED: 'bad',
};
const statusText = (s: string) => html`<span class="${STATUS_CLASS[s] ?? ''}">${s.replace('CONTRACT_', '')}</span>`;

function terms(c: Contract) {
  if (!c.periodic) return 'On demand';
  const unit = c.cycleType === 'MONTH' ? 'month' : 'day';
  return `Every ${c.cycleValue} ${unit}${c.cycleValue === 1 ? '' : 's'}, ${c.cycleDebitFixed ? 'fixed' : 'variable'}`;
}

function contractsView(rows: Row[], csrf: string, flash: { ok?: string; error?: string }) {
  const table = dataTable<Row>({
    id: 'contracts',
    rows,
    rowAttrs: (c) => html` data-code="${c.merchantContractCode}"`,
    columns: [
      { label: 'Contract', cell: (c) => html`<span class="mono">${c.merchantContractCode}</span>` },
      { label: 'Service', cell: (c) => c.serviceName },
      { label: 'Status', cell: (c) => statusText(c.status) },
      { label: 'Limit per debit', cell: (c) => displayAmount(c.singleUpperLimit, c.currency), cls: 'nowrap' },
      { label: 'Terms', cell: (c) => terms(c) },
      { label: 'Debits', cell: (c) => `${c.debits} · ${displayAmount(c.debited, c.currency)}` },
      { label: 'Created', cell: (c) => time(c.createdAt) },
      {
        label: '',
        cell: (c) =>
          c.status === 'CONTRACT_SIGNED'
            ? html`<form class="inline" method="post" action="${BASE}/contracts/${c.contractId}/terminate">${hidden(csrf)}
                <button class="btn secondary" type="submit">Terminate</button></form>`
            : '',
      },
    ],
  });
  return html`${flashBox(flash)}${card(html`<h1>Direct debit contracts</h1>
    <p class="muted">Agreements your customers signed to be charged without a checkout (created with
      <span class="mono">/direct-debit/contract</span>). Terminating one stops every further debit.</p>
    ${rows.length ? table : html`<p class="muted" id="no-contracts">No contracts yet.</p>`}`)}`;
}

export function contractPages(deps: { directDebit: DirectDebitService }) {
  return (pages: DashboardPages) => {
    pages.get('/contracts', async (req, reply, ctx) => {
      const rows = await deps.directDebit.listForMerchant(String(ctx.merchant.merchantId));
      const q = queryOf(req);
      const flash = q.terminated === '1' ? { ok: 'The contract was terminated.' } : {};
      return pages.frame(reply, 'Contracts', contractsView(rows, ctx.csrf, flash), ctx);
    });

    pages.post('/contracts/:contractId/terminate', async (req, reply, ctx) => {
      const contractId = param(req, 'contractId');
      if (!/^\d{1,16}$/.test(contractId)) return pages.notFound(reply, ctx);
      const merchantId = String(ctx.merchant.merchantId);
      const r = await deps.directDebit.terminate(merchantId, { contractId }, TERMINATION_WAY.MERCHANT);
      if (!r.ok && r.code === 'CONTRACT_NOT_FOUND') return pages.notFound(reply, ctx);
      if (!r.ok) {
        const rows = await deps.directDebit.listForMerchant(merchantId);
        const error = r.message ?? 'This contract is not active.';
        return pages.frame(reply, 'Contracts', contractsView(rows, ctx.csrf, { error }), ctx, 409);
      }
      return reply.redirect(`${BASE}/contracts?terminated=1`, 303);
    });
  };
}
