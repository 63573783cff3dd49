import type { FastifyInstance } from 'fastify';
import { payDomainFailure, payFailure } from '../codes.ts';
import { envelope, type PayRoute } from '../family.ts';
import { BalanceReport, BalanceReportQuery, GetFile } from './schemas.ts';
import type { StatementService } from './service.ts';

/** POST /report/get-file, /balance-report, /balance-report/query (binance-pay-extended.md §13); TSP scope REPORT. */
export function registerStatementPayRoutes(route: PayRoute, deps: { statements: StatementService }) {
  const options = { scope: 'REPORT', feature: 'reports' } as const;
  route(
    { path: '/report/get-file', summary: 'Daily report files', schema: GetFile, options },
    async (input, { actor }) => {
      const r = await deps.statements.files(actor, input);
      return r.ok ? { data: r.value } : payDomainFailure(r);
    },
  );

  route(
    { path: '/balance-report', summary: 'Request a balance report', schema: BalanceReport, options },
    async (input, { actor }) => {
      const r = await deps.statements.requestBalance(actor, input);
      return r.ok ? { data: r.value } : payDomainFailure(r);
    },
  );

  route(
    { path: '/balance-report/query', summary: 'Balance report status', schema: BalanceReportQuery, options },
    async (input, { actor }) => ({ data: await deps.statements.queryBalance(actor.merchantId, input.downloadId) }),
  );
}

/**
 * GET {PUBLIC_URL}/binancepay/files/{fileToken}/{fileName}[?format=csv] (§13.1): a plain download, no headers; the
 * token is the credential. An unknown, expired or mismatched link answers HTTP 404 with the Pay family's 404
 * envelope. The route is static under /binancepay/files/, so it wins over the family's catch-all /binancepay/*.
 */
export function registerFileRoutes(app: FastifyInstance, deps: { statements: StatementService }) {
  const notFound = envelope(payFailure('400000', 'Not found.'));
  app.get('/binancepay/files/:token/:fileName', { schema: { hide: true } }, async (req, reply) => {
    const { token, fileName } = req.params as { token: string; fileName: string };
    const format = (req.query as { format?: unknown }).format;
    const file =
      format === undefined || format === 'xlsx' || format === 'csv'
        ? await deps.statements.download(token, fileName, format === 'csv' ? 'csv' : 'xlsx')
        : null;
    if (!file) return reply.code(404).type('application/json').send(notFound);
    return reply
      .header('cache-control', 'private, no-store')
      .header('content-disposition', `attachment; filename="${file.fileName}"`)
      .type(file.contentType)
      .send(typeof file.body === 'string' ? file.body : Buffer.from(file.body));
  });
}
