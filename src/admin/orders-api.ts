import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AccountsService } from '../accounts/service.ts';
import type { ConnectOrders } from '../connect/orders/service.ts';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { Db } from '../platform/db/client.ts';
import type { Ledger } from '../platform/ledger/service.ts';
import type { WebhookDeliveryService } from '../platform/outbox/delivery.ts';
import type { OrderService } from '../pay/orders/service.ts';
import type { RefundService } from '../pay/refunds/service.ts';

/**
 * Operator admin API for orders across the families: one search by any id (Pay: prepayId, merchantTradeNo,
 * transactionId, refundId / refundRequestId, the payer's e-mail; Connect: orderId, merchantOrderId, merchantUserId,
 * withdrawal hash), and a Pay order whole (its refunds, webhook deliveries and ledger transfers). A Connect order whole
 * is GET /admin/v1/connect/orders/:orderId (src/connect/admin-routes.ts). Each domain's service does its own SQL.
 */
const SearchQuery = z.object({
  q: z.string().trim().min(1).max(128),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const PrepayParam = z.object({ prepayId: z.string().regex(/^\d{1,19}$/) });

export function registerOrdersAdminApi(
  app: FastifyInstance,
  deps: {
    adminToken: string;
    db: Db;
    accounts: AccountsService;
    ledger: Ledger;
    deliveries: WebhookDeliveryService;
    payOrders: OrderService;
    refunds: RefundService;
    connectOrders: ConnectOrders;
  },
) {
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin: orders'];
  const security = [{ adminToken: [] }];

  app.register(async (r) => {
    r.addHook('onRequest', guard);

    r.get(
      '/admin/v1/orders/search',
      {
        schema: {
          tags,
          security,
          summary: 'Pay and Connect orders matching any of their ids (or a Pay payer e-mail), newest first',
          querystring: SearchQuery,
        },
      },
      async (req) => {
        const { q, limit } = req.query as z.infer<typeof SearchQuery>;
        // An e-mail is looked up as a payer: their orders are the ones they paid.
        const payer = q.includes('@') ? await deps.accounts.findPayerByEmail(q) : null;
        const [pay, connect] = await Promise.all([
          deps.payOrders.search(q, { payerId: payer ? String(payer.payerId) : null, limit }),
          deps.connectOrders.search(q, limit),
        ]);
        return {
          pay: pay.map((o) => ({
            prepayId: o.prepayId,
            merchantId: o.merchantId,
            merchantTradeNo: o.merchantTradeNo,
            status: o.status,
            currency: o.currency,
            orderAmount: o.orderAmount,
            createTime: o.createTime,
          })),
          connect: connect.map((o) => ({
            orderId: o.orderId,
            partnerCode: o.partnerCode,
            merchantOrderId: o.merchantOrderId,
            mainStatus: o.mainStatus,
            subStatus: o.subStatus,
            fiatCurrency: o.fiatCurrency,
            orderAmount: o.orderAmount,
            cryptoCurrency: o.cryptoCurrency,
            createdAt: o.createdAt,
          })),
        };
      },
    );

    r.get(
      '/admin/v1/pay/orders/:prepayId',
      {
        schema: {
          tags,
          security,
          summary: 'A Pay order whole: the order, its refunds, its webhook deliveries and its ledger transfers',
          params: PrepayParam,
        },
      },
      async (req, reply) => {
        const { prepayId } = req.params as z.infer<typeof PrepayParam>;
        const order = await deps.payOrders.getByPrepayId(prepayId);
        if (!order) return adminError(reply, 404, 'ORDER_NOT_FOUND', 'No such order.');
        const [refunds, deliveries, ledgerTransfers] = await Promise.all([
          deps.refunds.listForOrder(order.merchantId, prepayId),
          deps.deliveries.list({ bizId: prepayId, limit: 500 }),
          deps.ledger.transfers(deps.db, { refs: [prepayId] }),
        ]);
        return {
          order,
          refunds,
          deliveries: deliveries.sort((a, b) => a.createdAt - b.createdAt),
          ledgerTransfers,
        };
      },
    );
  });
}
