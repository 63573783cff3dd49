import { payDomainFailure } from '../codes.ts';
import type { PayRoute } from '../family.ts';
import { QueryRefund, RefundRequest } from './schemas.ts';
import { refundResult, type RefundService } from './service.ts';

const STATUS_ON_WIRE = { PENDING: 'REFUND_PENDING', SUCCESS: 'REFUND_SUCCESS', REJECTED: 'REFUND_FAIL' } as const;

/** POST /order/refund and /order/refund/query (binance-pay.md §4.5, §4.6); TSP scope REFUND. */
export function registerRefundRoutes(route: PayRoute, deps: { refunds: RefundService }) {
  route(
    { path: '/order/refund', summary: 'Refund an order', schema: RefundRequest, options: { scope: 'REFUND' } },
    async (input, { actor }) => {
      const r = await deps.refunds.refund(actor.merchantId, input);
      return r.ok ? { data: refundResult(r.value.refund, r.value.duplicate) } : payDomainFailure(r);
    },
  );

  route(
    { path: '/order/refund/query', summary: 'Query a refund', schema: QueryRefund, options: { scope: 'REFUND' } },
    async (input, { actor }) => {
      const r = await deps.refunds.get(actor.merchantId, input.refundRequestId);
      if (!r.ok) return payDomainFailure(r);
      return { data: { ...refundResult(r.value, null), refundStatus: STATUS_ON_WIRE[r.value.status] } };
    },
  );
}
