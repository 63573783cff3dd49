import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { adminError, adminGuard } from '../../platform/admin-auth.ts';
import type { Result } from '../../platform/errors.ts';
import type { HotWalletOperation } from '../../chain/hotwallet.ts';
import type { SettlementError, SettlementService } from './service.ts';

/** HTTP status of each settlement error on the admin API (exhaustive: a new error does not compile unmapped). */
const STATUS_OF: Record<SettlementError, number> = {
  MERCHANT_NOT_FOUND: 404,
  UNSUPPORTED_NETWORK: 400,
  WITHDRAW_DISABLED: 409,
  NETWORK_UNAVAILABLE: 409,
  INVALID_ADDRESS: 400,
  WRONG_NETWORK: 400,
  INVALID_MEMO: 400,
  INVALID_LABEL: 400,
  ADDRESS_EXISTS: 409,
  ADDRESS_NOT_FOUND: 404,
  NOT_PENDING: 409,
  WRONG_CODE: 400,
  CODE_EXPIRED: 400,
  TOO_MANY_ATTEMPTS: 400,
  ADDRESS_NOT_ACTIVE: 409,
  INVALID_AMOUNT: 400,
  AMOUNT_OUT_OF_LIMIT: 400,
  INSUFFICIENT_FUNDS: 409,
  REQUEST_KEY_REUSED: 409,
  SETTLEMENT_NOT_FOUND: 404,
  NOT_CANCELLABLE: 409,
  INVALID_THRESHOLD: 400,
};

const Id = z.string().regex(/^\d{1,19}$/);
const MerchantParam = z.object({ id: Id });
const AddressParam = z.object({ id: Id, addressId: Id });
const SettlementParam = z.object({ settlementId: Id });
const Asset = z.string().regex(/^[A-Z0-9]{2,10}$/);
const Amount = z.string().regex(/^\d{1,20}(\.\d{1,18})?$/, 'a decimal string, e.g. "125.5"');

export const AddressCreate = z.strictObject({
  asset: Asset,
  network: Asset,
  address: z.string().min(1).max(128),
  memo: z.string().max(64).optional(),
  label: z.string().min(1).max(64),
  /** false: the address is active at once (the operator vouches for it); default: the 24 h cooling-off applies. */
  coolingOff: z.boolean().default(true),
});
export const WithdrawalCreate = z.strictObject({
  addressId: Id,
  /** Taken from the merchant's balance; the address receives it less the network fee. */
  amount: Amount,
  /** The caller's idempotency key: the same key answers with the same settlement. */
  requestKey: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
});
export const AutoSettlementPut = z.strictObject({
  addressId: Id,
  mode: z.enum(['DAILY', 'THRESHOLD']),
  threshold: Amount.nullish(),
  enabled: z.boolean(),
});

/**
 * The operator's settlement API: a merchant's whitelisted addresses (add without an e-mail code, list, remove), its
 * withdrawals (make, list, show, cancel before the chain has it) and its automatic settlement settings.
 */
export function registerSettlementAdminRoutes(
  app: FastifyInstance,
  deps: {
    settlement: SettlementService;
    adminToken: string;
    hotWallets(): Promise<{ hotWallets: HotWalletOperation[]; problems: string[] }>;
  },
) {
  const { settlement } = deps;
  const guard = adminGuard(deps.adminToken);
  const tags = ['Admin'];
  const security = [{ adminToken: [] }];
  const fail = (reply: FastifyReply, r: Extract<Result<unknown, SettlementError>, { ok: false }>) =>
    adminError(reply, STATUS_OF[r.code], r.code, r.message);
  const base = '/admin/v1/merchants/:id/settlement';

  app.register(async (r) => {
    r.addHook('onRequest', guard);

    r.post(
      `${base}/addresses`,
      {
        schema: {
          tags,
          security,
          summary: 'Whitelist a withdrawal address for a merchant',
          params: MerchantParam,
          body: AddressCreate,
        },
      },
      async (req, reply) => {
        const { id } = req.params as z.infer<typeof MerchantParam>;
        const b = req.body as z.infer<typeof AddressCreate>;
        const res = await settlement.addAddress(id, b, { kind: 'admin', coolingOff: b.coolingOff });
        return res.ok ? reply.code(201).send(res.value) : fail(reply, res);
      },
    );

    r.get(
      `${base}/addresses`,
      { schema: { tags, security, summary: "A merchant's whitelisted addresses", params: MerchantParam } },
      async (req) => {
        const { id } = req.params as z.infer<typeof MerchantParam>;
        return { addresses: await settlement.listAddresses(id, { includeRemoved: true }) };
      },
    );

    r.delete(
      `${base}/addresses/:addressId`,
      { schema: { tags, security, summary: 'Remove a whitelisted address (immediate)', params: AddressParam } },
      async (req, reply) => {
        const { id, addressId } = req.params as z.infer<typeof AddressParam>;
        const res = await settlement.removeAddress(id, addressId);
        return res.ok ? res.value : fail(reply, res);
      },
    );

    r.post(
      `${base}/withdrawals`,
      {
        schema: {
          tags,
          security,
          summary: "Withdraw from a merchant's balance to one of its active whitelisted addresses",
          params: MerchantParam,
          body: WithdrawalCreate,
        },
      },
      async (req, reply) => {
        const { id } = req.params as z.infer<typeof MerchantParam>;
        const b = req.body as z.infer<typeof WithdrawalCreate>;
        if (!(await settlement.getAddress(id, b.addressId)))
          return adminError(reply, 404, 'ADDRESS_NOT_FOUND', 'No such address for this merchant.');
        const res = await settlement.withdraw(id, { ...b, source: 'ADMIN' });
        return res.ok ? settlement.view(res.value) : fail(reply, res);
      },
    );

    r.get(
      `${base}/withdrawals`,
      { schema: { tags, security, summary: "A merchant's settlements, newest first", params: MerchantParam } },
      async (req) => {
        const { id } = req.params as z.infer<typeof MerchantParam>;
        return { settlements: await settlement.history(id, 200) };
      },
    );

    r.get(
      `${base}/auto`,
      { schema: { tags, security, summary: "A merchant's automatic settlement settings", params: MerchantParam } },
      async (req) => {
        const { id } = req.params as z.infer<typeof MerchantParam>;
        return { auto: await settlement.listAuto(id) };
      },
    );

    r.put(
      `${base}/auto`,
      {
        schema: {
          tags,
          security,
          summary: 'Set the automatic settlement of the address asset and network (daily or above a threshold)',
          params: MerchantParam,
          body: AutoSettlementPut,
        },
      },
      async (req, reply) => {
        const { id } = req.params as z.infer<typeof MerchantParam>;
        const res = await settlement.setAuto(id, req.body as z.infer<typeof AutoSettlementPut>);
        return res.ok ? res.value : fail(reply, res);
      },
    );

    // Hot wallet operations (issue #16): registered here, beside the settlements that draw on the hot wallets.
    r.get(
      '/admin/v1/chain/hot-wallets',
      {
        schema: {
          tags,
          security,
          summary: 'Hot wallets: on-chain balance, ledger inventory, customer liabilities, pending withdrawals',
        },
      },
      async () => deps.hotWallets(),
    );

    r.get(
      '/admin/v1/settlements/:settlementId',
      { schema: { tags, security, summary: 'One settlement with its chain withdrawal', params: SettlementParam } },
      async (req, reply) => {
        const s = await settlement.get((req.params as z.infer<typeof SettlementParam>).settlementId);
        if (!s) return adminError(reply, 404, 'SETTLEMENT_NOT_FOUND', 'No such settlement.');
        return settlement.view(s);
      },
    );

    r.post(
      '/admin/v1/settlements/:settlementId/cancel',
      {
        schema: {
          tags,
          security,
          summary: 'Cancel a settlement the chain has not taken yet (REQUESTED)',
          params: SettlementParam,
        },
      },
      async (req, reply) => {
        const res = await settlement.cancel((req.params as z.infer<typeof SettlementParam>).settlementId);
        return res.ok ? settlement.view(res.value) : fail(reply, res);
      },
    );
  });
}
