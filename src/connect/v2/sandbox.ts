import type { Db, Queryable } from '../../platform/db/client.ts';
import { DomainError, catchDomain, err, ok, type Result } from '../../platform/errors.ts';
import { Decimal } from '../../platform/money.ts';
import type { Catalog } from '../catalog.ts';
import type { ConnectOrders } from '../orders/service.ts';
import type { ConnectOrder, SubStatus } from '../orders/store.ts';
import type { Partner } from '../partners.ts';
import type { Gen2DomainError } from './codes.ts';
import { amountField, intField, type PreOrders } from './preorder.ts';
import { isSendOrder, STATUS } from './wire.ts';

/**
 * The §9 sandbox operations (binance-connect-v2.md): place a gen-2 order without a landing page, and move it
 * through the published statuses. Each move is a transition of the order's own state machine (orders.transition), so
 * the webhooks are exactly those of production; intermediate statuses are filled in, one webhook each.
 *
 * Decision: like Binance's sandbox, these moves carry no funds: no card charge, no ledger entry, no chain
 * transaction (withdrawTxHash stays null). An order the hosted page is already paying is not the sandbox's to move:
 * the sandbox takes an order over only while it is still open (CREATED/KYC_REVIEW), and marks it, after which the
 * page cannot confirm it (confirm and the price lock require an open order).
 */
type Fail = { ok: false; code: Gen2DomainError; message?: string; field?: string };
const illegal = (field: string, message: string) => err('ILLEGAL_PARAMETERS', message, field) as Fail;

/** Binance's targets for a fiat buy with a normal withdrawal (§9). */
const TARGETS = [2, 11, 20, 96, 97, 98];
/** Targets still reachable from each status along §5.3 (failures from the status where they happen, or later). */
const REACHABLE: Record<number, number[]> = {
  0: [2, 11, 20, 96, 97, 98],
  1: [2, 11, 20, 96, 97, 98],
  2: [11, 20, 96, 98],
  10: [11, 20, 98],
  11: [20, 98],
};
const OPEN: SubStatus[] = ['CREATED', 'KYC_REVIEW'];
/** An address that exists on every EVM network and that nobody holds: a placed order never withdraws. */
const SANDBOX_EVM_ADDRESS = '0x000000000000000000000000000000000000dEaD';

export function createGen2Sandbox(deps: { db: Db; orders: ConnectOrders; preOrders: PreOrders; catalog: Catalog }) {
  const { db, orders, preOrders, catalog } = deps;

  /** One move of the internal machine toward `target`; returns the order after it. */
  async function stepToward(q: Queryable, partner: Partner, o: ConnectOrder, target: number): Promise<ConnectOrder> {
    const move = async (to: SubStatus, patch: Parameters<ConnectOrders['transition']>[4] = {}) => {
      const moved = await orders.transition(q, o.orderId, o.subStatus, to, patch);
      if (!moved) throw new DomainError('ORDER_STATE_CHANGED', 'the order changed concurrently');
      return moved;
    };
    const status = o.gen2Status ?? STATUS.INIT;
    switch (o.subStatus) {
      case 'CREATED':
      case 'KYC_REVIEW':
        return target === STATUS.ON_RAMP_FAILED
          ? move('FAILED', { errorCode: 'CARD_DECLINED' })
          : move('PAYMENT_PROCESSING', { errorCode: null });
      case 'PAYMENT_PROCESSING':
        return move('PURCHASE_PROCESSING');
      case 'PURCHASE_PROCESSING':
        if (target === STATUS.ON_RAMP_FAILED) return move('FAILED', { errorCode: 'PURCHASE_FAILED' });
        if (status === STATUS.ON_RAMP_PROCESSING && (target === STATUS.ON_RAMP_COMPLETED || target === 96))
          return (await orders.publishGen2(q, o, STATUS.ON_RAMP_COMPLETED))!;
        if (target === STATUS.WITHDRAW_ABANDONED) return move('FAILED', { errorCode: 'KEPT_IN_ACCOUNT' });
        {
          // The crypto the order's amount buys at its own price: what the page's purchase would have credited.
          const quote = catalog.quote(partner, {
            fiat: o.fiatCurrency,
            crypto: o.cryptoCurrency,
            network: o.cryptoNetwork,
            amount: o.orderAmount,
          });
          return move('WITHDRAW_PROCESSING', {
            executePrice: o.quotePrice,
            obtainAmount: quote.ok ? quote.value.cryptoAmount : '0',
          });
        }
      case 'WITHDRAW_PROCESSING':
        if (status === STATUS.WITHDRAW_INIT) {
          await orders.withdrawalQueued(q, o.orderId);
          return (await orders.read(q, o.orderId))!;
        }
        return target === STATUS.WITHDRAW_FAILED
          ? move('WITHDRAW_FAILED', { errorCode: 'WITHDRAW_FAILED' })
          : move('COMPLETED', { errorCode: null });
      default:
        throw new DomainError('ORDER_STATE_CHANGED', `order is ${o.subStatus}`);
    }
  }

  return {
    /** §9 place order: a gen-2 buy order with the sandbox's own destination (it never withdraws). */
    async placeOrder(partner: Partner, body: Record<string, unknown>): Promise<Result<null, Gen2DomainError>> {
      for (const f of ['externalOrderId', 'fiatCurrency', 'cryptoCurrency'])
        if (typeof body[f] !== 'string' || body[f] === '') return illegal(f, `${f} is required`);
      const amount = amountField(body, 'requestedAmount', true);
      if (!amount.ok) return amount;
      if (new Decimal(amount.value!).gte('9999999999999999'))
        return illegal('requestedAmount', 'requestedAmount must be less than 9999999999999999');
      const amountType = intField(body, 'amountType', [1, 2], true);
      if (!amountType.ok) return amountType;
      const type = body.type;
      if (type !== 'BUY' && type !== 'BUY_P2P' && type !== 'SEND')
        return illegal('type', 'type must be BUY, BUY_P2P or SEND');
      if (type !== 'BUY')
        return err('UNSUPPORTED_ORDER_TYPE', `${type} orders are not supported by Rampart's sandbox`) as Fail;
      const crypto = String(body.cryptoCurrency).toUpperCase();
      const network = catalog
        .networks()
        .find((n) => n.asset === crypto && /^0x/.test(n.contractAddress || '0x'))?.network;
      if (!network) return illegal('cryptoCurrency', `${crypto} is not listed on an EVM network`);
      const r = await preOrders.create(partner, {
        externalOrderId: body.externalOrderId,
        fiatCurrency: body.fiatCurrency,
        cryptoCurrency: crypto,
        requestedAmount: amount.value,
        amountType: amountType.value,
        network,
        address: SANDBOX_EVM_ADDRESS,
      });
      return r.ok ? ok(null) : r;
    },

    /** §9 order status transition: the order moves to `targetStatus`, passing every status between. */
    async transition(partner: Partner, body: Record<string, unknown>): Promise<Result<null, Gen2DomainError>> {
      if (typeof body.externalOrderId !== 'string' || body.externalOrderId === '')
        return illegal('externalOrderId', 'externalOrderId is required');
      const target = intField(body, 'targetStatus', TARGETS, true);
      if (!target.ok) return target;
      const found = await preOrders.find(partner, body.externalOrderId);
      if (!found.ok) return found;
      // Decision: a send-primary order is driven by the page (the user's own crypto); the sandbox moves buys only.
      if (isSendOrder(found.value))
        return illegal('targetStatus', 'a send-primary order is moved by the hosted page, not by the sandbox');
      const r = await catchDomain(() =>
        db.tx(async (q) => {
          let o = (await orders.read(q, found.value.orderId, { lock: true }))!;
          const status = o.gen2Status ?? STATUS.INIT;
          if (!(REACHABLE[status] ?? []).includes(target.value!))
            throw new DomainError('ILLEGAL_TARGET', `status ${target.value} cannot follow status ${status}`);
          if (o.gen2?.sandbox !== true) {
            if (!OPEN.includes(o.subStatus))
              throw new DomainError('ILLEGAL_TARGET', 'the order is being paid on the hosted page');
            await q.query(`UPDATE connect_orders SET gen2 = gen2 || '{"sandbox":true}'::jsonb WHERE order_id = $1`, [
              o.orderId,
            ]);
          }
          for (let i = 0; i < 8 && o.gen2Status !== target.value; i++)
            o = await stepToward(q, partner, o, target.value!);
          if (o.gen2Status !== target.value) throw new DomainError('ILLEGAL_TARGET', 'the target was not reached');
          return null;
        }),
      );
      return r.ok ? ok(null) : illegal('targetStatus', r.message ?? 'illegal target');
    },
  };
}
export type Gen2Sandbox = ReturnType<typeof createGen2Sandbox>;
