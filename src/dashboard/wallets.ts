import { z } from 'zod';
import type { Db } from '../platform/db/client.ts';
import { randomAlnum } from '../platform/crypto.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import { WalletTransfer } from '../pay/transfers/schemas.ts';
import type { TransferService } from '../pay/transfers/service.ts';
import { walletOwnerType } from '../pay/wallets.ts';
import { formText } from '../web/page.ts';
import type { DashboardCtx, DashboardPages } from './pages.ts';
import { walletsView, type WalletsFlash } from './wallet-views.ts';

const TransferForm = z.object({ requestId: formText, currency: formText, amount: formText, direction: formText });

/**
 * Wallets: the funding and spot balances side by side and a transfer between them (binance-pay-extended.md §11),
 * through the same service as /wallet/transfer, so the page and the API can never disagree.
 */
export function walletPages(deps: { db: Db; ledger: Ledger; transfers: TransferService }) {
  return (pages: DashboardPages) => {
    async function show(
      reply: Parameters<Parameters<DashboardPages['get']>[1]>[1],
      ctx: DashboardCtx,
      flash?: WalletsFlash,
    ) {
      const id = String(ctx.merchant.merchantId);
      const [funding, spot, transfers] = await Promise.all([
        deps.ledger.balances(deps.db, walletOwnerType('FUNDING_WALLET'), id),
        deps.ledger.balances(deps.db, walletOwnerType('SPOT_WALLET'), id),
        deps.transfers.recent(id),
      ]);
      const requestId = `D${randomAlnum(31)}`;
      const view = walletsView(ctx, { funding, spot, transfers, requestId }, flash);
      return pages.frame(reply, 'Balances', view, ctx, flash?.status);
    }

    pages.get('/balances', async (_req, reply, ctx) => show(reply, ctx));
    pages.postForm(
      '/balances/transfer',
      TransferForm,
      async (_req, reply, ctx, error) => show(reply, ctx, { error, status: 400 }),
      async (_req, reply, ctx, form) => {
        const parsed = WalletTransfer.safeParse({
          // The key came with the form (a fresh one each time the page is drawn): the same form sent twice (a double
          // click, a reload) is a replay of one transfer, never a second move.
          requestId: form.requestId,
          currency: (form.currency ?? '').trim().toUpperCase(),
          amount: (form.amount ?? '').trim(),
          transferType: form.direction,
        });
        if (!parsed.success) {
          const field = String(parsed.error.issues[0]?.path[0] ?? '');
          const message =
            field === 'amount'
              ? 'Enter an amount above 0 with at most 8 decimals.'
              : field === 'currency'
                ? 'Choose a supported currency.'
                : field === 'requestId'
                  ? 'This form is out of date; fill it in again.'
                  : 'Choose the direction of the transfer.';
          return show(reply, ctx, { error: message, status: 400, form });
        }
        const id = String(ctx.merchant.merchantId);
        const r = await deps.transfers.transfer({ merchantId: id, creatorMerchantId: id }, parsed.data);
        if (!r.ok) return show(reply, ctx, { error: r.message ?? r.code, status: 400, form });
        if (r.value.status !== 'SUCCESS')
          return show(reply, ctx, {
            error: `Not enough ${r.value.currency} available in the source wallet: nothing was moved.`,
            status: 409,
            form,
          });
        return show(reply, ctx, {
          ok:
            `Moved ${r.value.amount} ${r.value.currency} to ` +
            `the ${r.value.transferType === 'TO_MAIN' ? 'spot' : 'funding'} wallet.`,
        });
      },
    );
  };
}
