import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AccountsService } from '../accounts/service.ts';
import { reportCsv, utcDayStart, type createReportService } from '../pay/reports/service.ts';
import { adminError, adminGuard } from '../platform/admin-auth.ts';

/** Admin reconciliation reports (issue 3): a merchant's daily transaction report as JSON or CSV. */
const Params = z.object({ id: z.string().regex(/^\d{1,19}$/) });
const Query = z.object({
  date: z.string().refine((d) => utcDayStart(d) !== null, 'must be a calendar date YYYY-MM-DD'),
  format: z.enum(['json', 'csv']).default('json'),
});

export function registerReportRoutes(
  app: FastifyInstance,
  deps: { adminToken: string; accounts: AccountsService; reports: ReturnType<typeof createReportService> },
) {
  const guard = adminGuard(deps.adminToken);
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.get(
      '/admin/v1/merchants/:id/reports/daily',
      {
        schema: {
          tags: ['Admin'],
          security: [{ adminToken: [] }],
          summary: "A merchant's transactions of one UTC day, from the ledger",
          params: Params,
          querystring: Query,
        },
      },
      async (req, reply) => {
        const { id } = req.params as z.infer<typeof Params>;
        const { date, format } = req.query as z.infer<typeof Query>;
        if (!(await deps.accounts.getMerchant(id))) return adminError(reply, 404, 'MERCHANT_NOT_FOUND');
        const res = await deps.reports.daily(id, date);
        if (!res.ok) return adminError(reply, 400, res.code, res.message);
        if (format === 'csv') {
          return reply
            .type('text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="merchant-${id}-${date}.csv"`)
            .send(reportCsv(res.value));
        }
        return res.value;
      },
    );
  });
}
