import type { FastifyInstance } from 'fastify';
import { int8Id } from '../platform/ids.ts';
import { z } from 'zod';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { AuditLog } from './audit-log.ts';
import { OPERATOR_ROLES, type Operators } from './operators.ts';

/** Admin API: operator accounts for the console (`npx rampart operator create`) and the audit log. */
const OperatorCreate = z.object({ email: z.string().email().max(254), role: z.enum(OPERATOR_ROLES) });
const OperatorPatch = z.object({ disabled: z.boolean() });
const IdParam = z.object({ id: int8Id });
const AuditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: int8Id.optional(),
});

export function registerOperatorApi(
  app: FastifyInstance,
  deps: { adminToken: string; operators: Operators; auditLog: AuditLog },
) {
  const tags = ['Admin'];
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', adminGuard(deps.adminToken));

    r.post(
      '/admin/v1/operators',
      {
        schema: {
          tags,
          security,
          summary: 'Create an operator account; the answer shows its first password and authenticator secret once',
          body: OperatorCreate,
        },
      },
      async (req, reply) => {
        const b = req.body as z.infer<typeof OperatorCreate>;
        const res = await deps.operators.create(b.email, b.role);
        if (!res.ok) return adminError(reply, res.code === 'EMAIL_TAKEN' ? 409 : 400, res.code, res.message);
        return reply.code(201).send(res.value);
      },
    );
    r.get('/admin/v1/operators', { schema: { tags, security, summary: 'Operator accounts' } }, async () => ({
      operators: await deps.operators.list(),
    }));
    r.patch(
      '/admin/v1/operators/:id',
      { schema: { tags, security, summary: 'Disable or re-enable an operator', params: IdParam, body: OperatorPatch } },
      async (req, reply) => {
        const res = await deps.operators.setDisabled(
          (req.params as z.infer<typeof IdParam>).id,
          (req.body as z.infer<typeof OperatorPatch>).disabled,
        );
        return res.ok ? res.value : adminError(reply, 404, res.code, res.message);
      },
    );
    r.get(
      '/admin/v1/audit-log',
      { schema: { tags, security, summary: 'Operator actions, newest first', querystring: AuditQuery } },
      async (req) => {
        const q = req.query as z.infer<typeof AuditQuery>;
        return { entries: await deps.auditLog.list({ limit: q.limit, before: q.before }) };
      },
    );
  });
}
