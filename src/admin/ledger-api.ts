import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminGuard } from '../platform/admin-auth.ts';
import type { Db } from '../platform/db/client.ts';
import { transferCursor, type Ledger } from '../platform/ledger/service.ts';

/**
 * Operator admin API for reading the ledger (the audit is GET /admin/v1/ledger/audit): accounts with their balances,
 * and the transfers, newest first, a page at a time. Read-only: money moves only through the domains' services.
 */
const AccountsQuery = z.object({
  ownerType: z.string().max(32).optional(),
  ownerId: z.string().max(128).optional(),
  asset: z.string().max(16).optional(),
  nonZero: z.enum(['true', 'false']).optional(),
  after: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const TransfersQuery = z.object({
  account: z.string().max(200).optional(),
  kind: z.string().max(64).optional(),
  ref: z.string().max(200).optional(),
  status: z.enum(['POSTED', 'PENDING', 'VOIDED']).optional(),
  asset: z.string().max(16).optional(),
  before: z
    .string()
    .regex(/^\d{1,16}:.{1,200}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export function registerLedgerAdminApi(app: FastifyInstance, deps: { adminToken: string; db: Db; ledger: Ledger }) {
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin'];
  const security = [{ adminToken: [] }];

  app.register(async (r) => {
    r.addHook('onRequest', guard);

    r.get(
      '/admin/v1/ledger/accounts',
      {
        schema: {
          tags,
          security,
          summary: 'Ledger accounts with posted, held and available balances (by owner and asset)',
          querystring: AccountsQuery,
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof AccountsQuery>;
        const accounts = await deps.ledger.accounts(deps.db, { ...q, nonZero: q.nonZero === 'true' });
        const last = accounts[accounts.length - 1];
        return { accounts, next: accounts.length === q.limit && last ? last.id : null };
      },
    );

    r.get(
      '/admin/v1/ledger/transfers',
      {
        schema: {
          tags,
          security,
          summary: 'Ledger transfers, newest first, filtered by account, kind, ref, status or asset; paged by cursor',
          querystring: TransfersQuery,
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof TransfersQuery>;
        const transfers = await deps.ledger.browse(deps.db, q);
        const last = transfers[transfers.length - 1];
        return { transfers, next: transfers.length === q.limit && last ? transferCursor(last) : null };
      },
    );
  });
}
