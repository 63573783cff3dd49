import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import { raw } from '../../platform/json.ts';
import { page } from '../../web/layout.ts';
import { displayAmount } from '../../web/amount.ts';
import { payDomainFailure } from '../codes.ts';
import { num8 } from '../events.ts';
import type { PayRoute } from '../family.ts';
import { payoutTransferSchema, PayoutQuery, ReceiverCheck, type PayoutLimits } from './schemas.ts';
import type { Batch, Detail, PayoutService } from './service.ts';
import { claimNotFound, claimPage } from './views.ts';

/**
 * Batch payout's signed endpoints (binance-pay-extended.md §10), TSP scope PAYOUT (§18.2). The family checks the
 * fields, then the feature (`payout`, `payoutReceiverCheck`) and, on /payout/transfer only, the key's PAYOUT
 * permission.
 */
export function registerPayoutPayRoutes(route: PayRoute, deps: { payouts: PayoutService; limits: PayoutLimits }) {
  route(
    {
      path: '/payout/transfer',
      summary: 'Create a batch payout',
      schema: payoutTransferSchema(deps.limits),
      options: { scope: 'PAYOUT', feature: 'payout', permission: 'PAYOUT' },
    },
    async (input, { actor }) => {
      const r = await deps.payouts.transfer(actor, input);
      return r.ok ? { data: { requestId: r.value.requestId, status: r.value.status } } : payDomainFailure(r);
    },
  );

  route(
    {
      path: '/payout/query',
      summary: 'Query a batch payout',
      schema: PayoutQuery,
      options: { scope: 'PAYOUT', feature: 'payout' },
    },
    async (input, { actor }) => {
      const r = await deps.payouts.query(actor.merchantId, input.requestId, input.detailStatus);
      if (!r.ok) return payDomainFailure(r);
      return { data: queryData(r.value.batch, r.value.details, r.value.paid, r.value.fees) };
    },
  );

  route(
    {
      path: '/payout/receiver/check',
      summary: 'Validate a payout receiver',
      schema: ReceiverCheck,
      options: { scope: 'PAYOUT', feature: 'payoutReceiverCheck' },
    },
    async (input, { actor }) => {
      const r = await deps.payouts.receiverCheck(actor.merchantId, input);
      return r.ok ? { data: r.value } : payDomainFailure(r);
    },
  );
}

/** `/payout/query` data (§10.3): totals as numbers with 8 decimals, details in request order. */
function queryData(b: Batch, details: Detail[], paid: string, fees: string) {
  return {
    requestId: b.requestId,
    batchStatus: b.status,
    merchantId: raw(b.merchantId),
    currency: b.currency,
    totalAmount: num8(b.totalAmount),
    totalPaidAmount: num8(paid),
    totalPayoutFee: num8(fees),
    totalNumber: b.totalNumber,
    transferDetailList: details.map((d) => ({
      orderId: d.orderId,
      merchantSendId: d.merchantSendId,
      payerId: raw(b.merchantId),
      amount: d.amount,
      receiveType: d.receiveType,
      receiver: d.receiver,
      ...(d.payeeId ? { payeeId: raw(d.payeeId) } : {}),
      transferMethod: d.transferMethod,
      status: d.status,
      ...(d.remark !== null ? { remark: d.remark } : {}),
    })),
  };
}

const BatchId = z.object({ batchId: z.string().regex(/^\d{1,19}$/) });

/** The operator's payout API (§18.5) and the e-mail recipient's page. */
export function registerPayoutRoutes(
  app: FastifyInstance,
  deps: { payouts: PayoutService; adminToken: string; mode: 'sandbox' | 'production'; now: () => number },
) {
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin'];
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', guard);
    r.post(
      '/admin/v1/payouts/:batchId/cancel',
      { schema: { tags, security, summary: 'Cancel an ACCEPTED payout batch (§10.2)', params: BatchId } },
      async (req, reply) => {
        const res = await deps.payouts.cancel((req.params as { batchId: string }).batchId);
        if (!res.ok) return adminError(reply, res.code === 'PAYOUT_NOT_FOUND' ? 404 : 409, res.code, res.message);
        return { batchId: res.value.batchId, requestId: res.value.requestId, batchStatus: res.value.status };
      },
    );
    r.get(
      '/admin/v1/payouts/:batchId',
      { schema: { tags, security, summary: 'A payout batch with its details', params: BatchId } },
      async (req, reply) => {
        const { batchId } = req.params as { batchId: string };
        const b = await deps.payouts.get(batchId);
        if (!b) return adminError(reply, 404, 'PAYOUT_NOT_FOUND', 'Payout not found.');
        const details = await deps.payouts.details(batchId);
        return {
          ...b,
          fingerprint: undefined,
          details: details.map((d) => ({ ...d, claimToken: undefined })),
        };
      },
    );
  });

  app.get('/payouts/claim/:token', { schema: { hide: true } }, async (req, reply) => {
    const found = await deps.payouts.byClaimToken((req.params as { token: string }).token);
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
    if (!found)
      return reply.code(404).send(page({ title: 'Payment not found', body: claimNotFound(), mode: deps.mode }));
    const { detail, batch, merchantName } = found;
    const body = claimPage({
      merchantName,
      amount: detail.amount,
      currency: batch.currency,
      email: detail.receiver,
      status: detail.status,
      deadline: detail.claimDeadline!,
      now: deps.now(),
      sandbox: deps.mode === 'sandbox',
    });
    return reply.send(
      page({
        title: `${merchantName} sent you ${displayAmount(detail.amount, batch.currency)}`,
        body,
        mode: deps.mode,
      }),
    );
  });
}
