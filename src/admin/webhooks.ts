import type { FastifyInstance } from 'fastify';
import { int8Id } from '../platform/ids.ts';
import { z } from 'zod';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { WebhookDeliveryService } from '../platform/outbox/delivery.ts';

/**
 * Operator admin API for the webhook delivery log (platform.md): list by status, owner, family or business id; one
 * delivery with its attempts; redeliver one.
 */
const Status = z.enum(['PENDING', 'DELIVERED', 'FAILED']);
const ListQuery = z.object({
  status: Status.optional(),
  ownerId: z.string().max(64).optional(),
  family: z.string().max(32).optional(),
  /** The business object the event is about (prepayId, Connect order id, KYC record id, …). */
  bizId: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const IdParam = z.object({ id: int8Id });
const Attempt = z.object({
  round: z.number().int(),
  attemptNo: z.number().int(),
  attemptedAt: z.number().int(),
  url: z.string(),
  httpStatus: z.number().int().nullable(),
  latencyMs: z.number().int(),
  response: z.string().nullable(),
  error: z.string().nullable(),
  acked: z.boolean(),
});
const Delivery = z.object({
  id: z.string(),
  family: z.string(),
  ownerId: z.string(),
  url: z.string(),
  bizType: z.string(),
  bizId: z.string(),
  bizStatus: z.string(),
  body: z.string(),
  status: Status,
  round: z.number().int(),
  createdAt: z.number().int(),
  completedAt: z.number().int().nullable(),
  nextAttemptAt: z.number().int().nullable(),
  lastError: z.string().nullable(),
  attempts: z.array(Attempt),
});
const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export function registerWebhookAdminRoutes(
  app: FastifyInstance,
  deps: { adminToken: string; deliveries: WebhookDeliveryService },
) {
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin'];
  const security = [{ adminToken: [] }];

  app.register(async (r) => {
    r.addHook('onRequest', guard);

    r.get(
      '/admin/v1/webhooks/deliveries',
      {
        schema: {
          tags,
          security,
          summary: 'Webhook deliveries with every attempt, newest first',
          querystring: ListQuery,
          response: { 200: z.object({ deliveries: z.array(Delivery) }) },
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof ListQuery>;
        return { deliveries: await deps.deliveries.list(q) };
      },
    );

    r.get(
      '/admin/v1/webhooks/deliveries/:id',
      {
        schema: {
          tags,
          security,
          summary: 'One webhook delivery: the body sent and every attempt with its answer',
          params: IdParam,
          response: { 200: Delivery, 404: ErrorBody },
        },
      },
      async (req, reply) => {
        const d = await deps.deliveries.get((req.params as z.infer<typeof IdParam>).id);
        return d ?? adminError(reply, 404, 'DELIVERY_NOT_FOUND', 'No such webhook delivery.');
      },
    );

    r.post(
      '/admin/v1/webhooks/deliveries/:id/redeliver',
      {
        schema: {
          tags,
          security,
          summary: 'Send a delivered or failed webhook again (same body, new attempts)',
          params: IdParam,
          response: { 202: Delivery, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (req, reply) => {
        const { id } = req.params as z.infer<typeof IdParam>;
        const res = await deps.deliveries.redeliver(id);
        if (!res.ok) {
          return res.code === 'DELIVERY_NOT_FOUND'
            ? adminError(reply, 404, res.code, 'No such webhook delivery.')
            : adminError(reply, 409, res.code, 'The delivery is still pending; it will be attempted on its schedule.');
        }
        return reply.code(202).send(res.value);
      },
    );
  });
}
