import type { Sessions } from '../../accounts/service.ts';
import { err, ok } from '../../platform/errors.ts';
import { raw } from '../../platform/json.ts';
import { payDomainFailure } from '../codes.ts';
import type { PayExtension, PayExtensionDeps } from '../extension.ts';
import { featureEnabled } from '../features.ts';
import type { NewOrder, OrderHooks, OrderService } from '../orders/service.ts';
import { AddReceiver, DelReceiver, QueryReceivers, QuerySplit, ReturnSplit, SubmitSplit } from './schemas.ts';
import { createProfitSharingService, type ProfitSharingService, type Split } from './service.ts';

/** §16.2 / §16.3 `data`: amounts as JSON numbers with their exact digits, ids as strings, finishTime in seconds. */
const wireSplit = (s: Split) => ({
  splitOrderNo: s.splitOrderNo,
  merchantRequestId: s.merchantRequestId,
  prepayOrderId: s.prepayOrderId,
  status: s.status,
  receiverOrderDetails: s.details.map((d) => ({
    account: d.account,
    amount: raw(d.amount),
    failReason: d.failReason,
    detailId: d.detailId,
    status: d.status,
    finishTime: d.finishTime,
  })),
});

const tagsOf = (input: NewOrder) => input.extra?.orderTags as unknown;

/**
 * `orderTags` on create order (binance-pay-extended.md §16, §18.4): an object whose `ifProfitSharing` is a boolean;
 * tagging an order true needs the merchant's `profitSharing` feature (§9.1), else 400203. Create order stores the tags
 * in the order's `extra`, where a split reads them.
 */
export function createProfitSharingOrderHooks(deps: PayExtensionDeps): OrderHooks {
  return {
    applies: (input) => tagsOf(input) != null,
    async beforeCreate(merchantId, input) {
      const tags = tagsOf(input);
      if (typeof tags !== 'object' || Array.isArray(tags)) return err('FIELD_FORMAT', 'orderTags: must be an object');
      const flag = (tags as Record<string, unknown>).ifProfitSharing;
      if (flag === undefined || flag === null) return ok(undefined);
      if (typeof flag !== 'boolean') return err('FIELD_FORMAT', 'orderTags.ifProfitSharing: must be a boolean');
      if (!flag) return ok(undefined);
      const features = await deps.accounts.merchantFeatures(merchantId);
      if (!features || !featureEnabled({ features }, 'profitSharing', deps.config.mode))
        return err('FEATURE_DISABLED', 'orderTags.ifProfitSharing: profit sharing is not enabled for this account.');
      return ok(undefined);
    },
  };
}

/**
 * Profit sharing (binance-pay-extended.md §16): receivers, split submit and query, return; feature `profitSharing`,
 * TSP scope CHECKOUT (§18.2, Decision). Splits and returns finish synchronously and send no webhook (§16.5).
 */
export function createProfitSharingModule(
  deps: PayExtensionDeps & { orders: OrderService; sessions: Sessions },
): PayExtension & { profitSharing: ProfitSharingService } {
  const profitSharing = createProfitSharingService(deps);
  const options = { scope: 'CHECKOUT', feature: 'profitSharing' } as const;
  return {
    profitSharing,
    payRoutes(route) {
      route(
        {
          path: '/profitsharing/v1/add-receiver',
          summary: 'Add a profit-sharing receiver',
          schema: AddReceiver,
          options,
        },
        async (input, { actor }) => {
          const r = await profitSharing.addReceiver(actor, input.account);
          return r.ok ? { data: r.value } : payDomainFailure(r);
        },
      );
      route(
        {
          path: '/profitsharing/v1/query-receiver',
          summary: 'List profit-sharing receivers',
          schema: QueryReceivers,
          options,
        },
        async (input, { actor }) => ({
          data: await profitSharing.queryReceivers(actor.merchantId, input.pageNum, input.pageSize),
        }),
      );
      route(
        {
          path: '/profitsharing/v1/del-receiver',
          summary: 'Delete a profit-sharing receiver',
          schema: DelReceiver,
          options,
        },
        async (input, { actor }) => {
          const r = await profitSharing.delReceiver(actor.merchantId, input.account);
          return r.ok ? { data: r.value } : payDomainFailure(r);
        },
      );
      route(
        { path: '/profitsharing/v1/submit-split', summary: 'Split a paid order', schema: SubmitSplit, options },
        async (input, { actor }) => {
          const r = await profitSharing.submitSplit(actor, input);
          return r.ok ? { data: wireSplit(r.value) } : payDomainFailure(r);
        },
      );
      route(
        { path: '/profitsharing/v1/query-split', summary: 'Query a split', schema: QuerySplit, options },
        async (input, { actor }) => {
          const r = await profitSharing.querySplit(actor.merchantId, input.merchantRequestId, input.prepayOrderId);
          return r.ok ? { data: wireSplit(r.value) } : payDomainFailure(r);
        },
      );
      route(
        { path: '/profitsharing/v1/return', summary: 'Return split money', schema: ReturnSplit, options },
        async (input, { actor }) => {
          const r = await profitSharing.returnSplit(actor, input);
          if (!r.ok) return payDomainFailure(r);
          const v = r.value;
          return {
            data: {
              prepayOrderId: v.prepayOrderId,
              splitOrderNo: v.splitOrderNo,
              originMerchantRequestId: v.originMerchantRequestId,
              merchantReturnNo: v.merchantReturnNo,
              transferOutAccount: v.transferOutAccount,
              returnAmount: raw(v.returnAmount),
              returnOrderNo: v.returnOrderNo,
              status: v.status,
              ...(v.failReason ? { failReason: v.failReason } : {}),
              finishTime: v.finishTime,
            },
          };
        },
      );
    },
  };
}
