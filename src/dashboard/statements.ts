import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { StatementService } from '../pay/statements/service.ts';
import { formText } from '../web/page.ts';
import { queryOf, type DashboardCtx, type DashboardPages } from './pages.ts';
import { statementsView, type FilesQuery } from './statement-views.ts';

const BalanceForm = z.object({ walletType: formText, startDate: formText, endDate: formText });
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;
/** yyyy-mm-dd (the date input) → dd/MM/yyyy (/report/get-file, §13.1). */
const ddMMyyyy = (iso: string) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`;

/**
 * Report files (binance-pay-extended.md §13): the daily transaction and settlement files of a date range, and balance
 * reports (requested here, generated in the background, downloadable for 24 hours). Both go through the service of
 * /report/get-file and /balance-report, with its rules (spans, the monthly limit, no current day), and the download
 * links are the same signed, expiring ones the API gives.
 */
export function statementPages(deps: {
  statements: StatementService;
  reportsEnabled: (ctx: DashboardCtx) => boolean;
  today: () => string;
}) {
  return (pages: DashboardPages) => {
    async function show(
      reply: FastifyReply,
      ctx: DashboardCtx,
      query: FilesQuery,
      flash?: { ok?: string; error?: string },
      status = 200,
    ) {
      if (!deps.reportsEnabled(ctx))
        return pages.frame(reply, 'Report files', statementsView({ enabled: false }), ctx, 403);
      const id = String(ctx.merchant.merchantId);
      const actor = { merchantId: id, creatorMerchantId: id };
      let files: Awaited<ReturnType<StatementService['files']>> | null = null;
      if (query.kind && query.from && query.to) {
        if (!ISO_DAY.test(query.from) || !ISO_DAY.test(query.to)) flash = { error: 'Choose a start and an end date.' };
        else {
          const [reportType, transactionType] = query.kind.split(':');
          files = await deps.statements.files(actor, {
            reportType: reportType === 'Settlement' ? 'Settlement' : 'Transaction',
            transactionType: reportType === 'Settlement' ? null : transactionType,
            startDate: ddMMyyyy(query.from),
            endDate: ddMMyyyy(query.to),
          });
          if (!files.ok) flash = { error: files.message ?? files.code };
        }
      }
      const reports = await deps.statements.recentBalanceReports(id);
      const view = statementsView({
        enabled: true,
        ctx,
        query,
        files: files?.ok ? files.value : null,
        reports,
        today: deps.today(),
        flash,
      });
      return pages.frame(reply, 'Report files', view, ctx, flash?.error ? (status === 200 ? 400 : status) : status);
    }

    const queryFrom = (q: Record<string, string | undefined>): FilesQuery => ({
      kind: q.kind,
      from: q.from,
      to: q.to,
    });

    pages.get('/reports/files', async (req, reply, ctx) => show(reply, ctx, queryFrom(queryOf(req))));
    pages.postForm(
      '/reports/balance',
      BalanceForm,
      async (_req, reply, ctx, error) => show(reply, ctx, {}, { error }),
      async (_req, reply, ctx, form) => {
        if (!deps.reportsEnabled(ctx)) return show(reply, ctx, {});
        const start = form.startDate ?? '';
        const end = form.endDate ?? '';
        if (!ISO_DAY.test(start) || !ISO_DAY.test(end))
          return show(reply, ctx, {}, { error: 'Choose the first day and the day after the last.' });
        const id = String(ctx.merchant.merchantId);
        const wallet =
          form.walletType === 'FUNDING_WALLET' || form.walletType === 'SPOT_WALLET' ? form.walletType : null;
        const r = await deps.statements.requestBalance(
          { merchantId: id, creatorMerchantId: id },
          { walletType: wallet, startDate: start, endDate: end },
        );
        if (!r.ok) return show(reply, ctx, {}, { error: r.message ?? r.code });
        const days = Math.round((Date.parse(end) - Date.parse(start)) / DAY_MS);
        return show(
          reply,
          ctx,
          {},
          {
            ok:
              `Balance report ${r.value} requested (${days} day${days === 1 ? '' : 's'}). It is prepared in the ` +
              `background: this list shows when it is ready.`,
          },
        );
      },
    );
  };
}
