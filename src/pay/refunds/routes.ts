import type { FastifyInstance } from 'fastify';
import { payFailure } from '../codes.ts';
import { payRoute, type PayRouteDeps } from '../routes.ts';
import { validate } from '../validation.ts';
import { QueryRefund, RefundRequest } from './schemas.ts';
import { refundResult, type RefundService } from './service.ts';

const STATUS_ON_WIRE = { PENDING: 'REFUND_PENDING', SUCCESS: 'REFUND_SUCCESS', REJECTED: 'REFUND_FAIL' } as const;

/** POST /order/refund and /order/refund/query (binance-pay.md §4.5, §4.6); TSP scope REFUND. */
export function registerRefundRoutes(app: FastifyInstance, deps: PayRouteDeps & { refunds: RefundService }) {
  const route = payRoute.bind(null, app, deps);

  route('/order/refund', { scope: 'REFUND', schema: RefundRequest, summary: 'Refund an order' }, async (body, actor) => {
    const v = validate(RefundRequest, body);
    if (!v.ok) return v.failure;
    const r = await deps.refunds.refund(actor.merchantId, v.value);
    return r.ok ? { data: refundResult(r.value.refund, r.value.duplicate) } : payFailure(r.code, r.message);
  });

  route('/order/refund/query', { scope: 'REFUND', schema: QueryRefund, summary: 'Query a refund' }, async (body, actor) => {
    const v = validate(QueryRefund, body);
    if (!v.ok) return v.failure;
    const r = await deps.refunds.get(actor.merchantId, v.value.refundRequestId);
    if (!r.ok) return payFailure(r.code, r.message);
    return { data: { ...refundResult(r.value, null), refundStatus: STATUS_ON_WIRE[r.value.status] } };
  });
}
