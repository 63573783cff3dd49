import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import type { CreditRefundError, OnchainPayments } from './service.ts';

const PrepayId = z.object({ prepayId: z.string().regex(/^\d{1,19}$/) });
const RefundBody = z.object({
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  asset: z.string().min(1).max(16),
  network: z.string().min(1).max(16),
  address: z.string().min(1).max(128),
  memo: z.string().max(128).optional(),
});

/** HTTP status of each refusal of a credit refund; the chain's own refusals (address, network, amount) are 400. */
const REFUND_STATUS: Record<CreditRefundError, number> = {
  INTENT_NOT_FOUND: 404,
  ORDER_STILL_OPEN: 409,
  PAYER_CREDITED: 409,
  NOTHING_TO_REFUND: 409,
};
const statusOf = (code: string) => REFUND_STATUS[code as CreditRefundError] ?? 400;

/** The operator's view of on-chain checkout payments given back (surplus, expiry, late), and refunds of credits. */
export function registerOnchainAdminRoutes(
  app: FastifyInstance,
  deps: { payments: OnchainPayments; adminToken: string },
) {
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin'];
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.get(
      '/admin/v1/pay/onchain/credits',
      {
        schema: {
          tags,
          security,
          summary: 'On-chain checkout payments with money given back: surplus, returned at expiry, late transfers',
        },
      },
      async () => ({ credits: await deps.payments.credits() }),
    );
    r.post(
      '/admin/v1/pay/onchain/credits/:prepayId/refund',
      {
        schema: {
          tags,
          security,
          summary: "Send an order's refundable on-chain credit back to an address (a chain withdrawal)",
          params: PrepayId,
          body: RefundBody,
        },
      },
      async (req, reply) => {
        const { prepayId } = req.params as z.infer<typeof PrepayId>;
        const res = await deps.payments.refundCredit(prepayId, req.body as z.infer<typeof RefundBody>);
        if (!res.ok) return adminError(reply, statusOf(res.code), res.code, res.message);
        const w = res.value;
        return {
          withdrawalId: w.id,
          ref: w.ref,
          status: w.status,
          asset: w.asset,
          network: w.network,
          address: w.address,
          amount: w.amount,
        };
      },
    );
  });
}
