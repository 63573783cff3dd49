import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { randomAlnum } from '../platform/crypto.ts';
import { Decimal } from '../platform/money.ts';
import { payoutTransferSchema, MAX_DETAILS, type PayoutLimits } from '../pay/payouts/schemas.ts';
import type { PayoutService } from '../pay/payouts/service.ts';
import { formText } from '../web/page.ts';
import { param, type DashboardCtx, type DashboardPages } from './pages.ts';
import { BASE } from './views.ts';
import { payoutBatchView, payoutCsv, payoutsView, type PayoutForm } from './payout-views.ts';

const NewBatchForm = z.object({
  requestId: formText,
  batchName: formText,
  currency: formText,
  transferMethod: formText,
  lines: formText,
});

/**
 * One line of the batch's CSV: `receiveType,receiver,amount[,remark]` (a header line naming `receiver` is skipped).
 * The remark may itself hold commas: everything after the third comma is the remark.
 */
function parsePayoutLines(text: string): { lines: string[][]; error?: string } {
  const rows = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (rows[0] && /receiver/i.test(rows[0])) rows.shift();
  if (rows.length === 0) return { lines: [], error: 'Add at least one recipient line.' };
  if (rows.length > MAX_DETAILS) return { lines: [], error: `A batch has at most ${MAX_DETAILS} recipients.` };
  const lines = rows.map((r) => {
    const cells = r.split(',');
    const [type = '', receiver = '', amount = ''] = cells.map((c) => c.trim());
    return [type.toUpperCase(), receiver, amount, cells.slice(3).join(',').trim()];
  });
  const bad = lines.findIndex((l) => l[0] === '' || l[1] === '' || l[2] === '');
  if (bad >= 0) return { lines, error: `Line ${bad + 1}: write receiveType, receiver and amount.` };
  return { lines };
}

/**
 * Payouts: the merchant's batches, a new batch from a form (recipients pasted or loaded from a CSV file), and each
 * batch with its details. The form goes through the same schema and service as /payout/transfer; its request key
 * comes with the page, so a form sent twice is one batch.
 */
export function payoutPages(deps: { payouts: PayoutService; limits: PayoutLimits }) {
  const schema = payoutTransferSchema(deps.limits);
  return (pages: DashboardPages) => {
    async function list(reply: FastifyReply, ctx: DashboardCtx, form?: PayoutForm, status = 200) {
      const batches = await deps.payouts.recent(String(ctx.merchant.merchantId));
      const requestId = form?.requestId && !form.error ? form.requestId : `D${randomAlnum(31)}`;
      return pages.frame(reply, 'Payouts', payoutsView(ctx, batches, { ...form, requestId }), ctx, status);
    }

    pages.get('/payouts', async (_req, reply, ctx) => list(reply, ctx));

    pages.postForm(
      '/payouts',
      NewBatchForm,
      async (_req, reply, ctx, error) => list(reply, ctx, { error }, 400),
      async (_req, reply, ctx, form) => {
        const refused = (error: string, status = 400) => list(reply, ctx, { ...form, error }, status);
        const parsed = parsePayoutLines(form.lines ?? '');
        if (parsed.error) return refused(parsed.error);
        let total = new Decimal(0);
        for (const l of parsed.lines)
          if (/^\d{1,20}(\.\d{1,8})?$/.test(l[2]!)) total = total.plus(l[2]!);
          else
            return refused(
              `Line ${parsed.lines.indexOf(l) + 1}: the amount ${l[2]} is not a number with at most 8 decimals.`,
            );
        const input = schema.safeParse({
          requestId: form.requestId,
          bizScene: 'DIRECT_TRANSFER',
          batchName: (form.batchName ?? '').trim(),
          currency: (form.currency ?? '').trim().toUpperCase(),
          totalAmount: total.toFixed(),
          totalNumber: String(parsed.lines.length),
          transferDetailList: parsed.lines.map(([receiveType, receiver, amount, remark], i) => ({
            merchantSendId: String(i + 1),
            receiveType,
            receiver,
            transferAmount: amount,
            transferMethod: form.transferMethod,
            remark: remark || null,
          })),
        });
        if (!input.success) {
          const issue = input.error.issues[0]!;
          const [field, index, detailField] = issue.path.map(String);
          const where =
            field === 'transferDetailList' && index !== undefined ? `Line ${Number(index) + 1}, ${detailField}` : field;
          return refused(`${where}: ${issue.message}`);
        }
        const id = String(ctx.merchant.merchantId);
        const r = await deps.payouts.transfer({ merchantId: id, creatorMerchantId: id }, input.data);
        if (!r.ok) return refused(r.message ?? r.code);
        return reply.redirect(`${BASE}/payouts/${encodeURIComponent(input.data.requestId)}?created=1`);
      },
    );

    pages.get('/payouts/:requestId', async (req, reply, ctx) => {
      const requestId = param(req, 'requestId');
      const csv = requestId.endsWith('.csv');
      const r = await deps.payouts.query(
        String(ctx.merchant.merchantId),
        csv ? requestId.slice(0, -4) : requestId,
        null,
      );
      if (!r.ok) return pages.notFound(reply, ctx);
      if (csv)
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="payout-${r.value.batch.requestId}.csv"`)
          .send(payoutCsv(r.value));
      const created = (req.query as Record<string, string | undefined>).created === '1';
      return pages.frame(reply, `Payout ${r.value.batch.batchName}`, payoutBatchView(r.value, created), ctx);
    });
  };
}
