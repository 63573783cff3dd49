import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PAYER_KYC_STATUSES, type AccountsService, type PayerKycStatus } from '../accounts/service.ts';
import { adminError, adminGuard } from '../platform/admin-auth.ts';
import type { Clock } from '../platform/clock.ts';
import { onlyRow, type Db } from '../platform/db/client.ts';
import type { IdGenerator } from '../platform/ids.ts';
import { platformAccount, type Ledger } from '../platform/ledger/service.ts';
import { isDecimalString } from '../platform/money.ts';
import type { OrderService } from '../pay/orders/service.ts';

/** Sandbox helpers (platform.md): each calls the same service code a person's page would. */
const PayerCreate = z.object({
  email: z.string().email().max(254),
  password: z.string().min(8).max(128).optional(),
  balances: z
    .record(z.string().regex(/^[A-Z0-9]{1,16}$/), z.string().refine(isDecimalString, 'must be a decimal string'))
    .default({}),
  /** Payout KYC status (binance-pay-extended.md §10.2, §18.5): PENDING registers a not-yet-verified recipient. */
  kycStatus: z.enum(PAYER_KYC_STATUSES).optional(),
  /** KYC country (ISO 3166-1 alpha-2), checked against a sub-merchant's blockPayerKycCountries (§12.5). */
  country: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional(),
});

const CLOCK_OFFSET_KEY = 'clock_offset_ms';

async function persistClockOffset(db: Db, offset: number) {
  await db.query(
    `INSERT INTO platform_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
    [CLOCK_OFFSET_KEY, String(offset)],
  );
}
export async function loadClockOffset(db: Db): Promise<number> {
  const r = (await db.query(`SELECT value FROM platform_settings WHERE key = $1`, [CLOCK_OFFSET_KEY])).rows[0];
  return r ? Number(r.value) : 0;
}
/**
 * Moves the shared offset forward in one statement (no read-modify-write across processes) and returns the new value.
 */
async function advanceClockOffset(db: Db, ms: number): Promise<number> {
  const r = await db.query<{ value: string }>(
    `INSERT INTO platform_settings (key, value) VALUES ($1, $2::bigint::text)
     ON CONFLICT (key) DO UPDATE SET value = (platform_settings.value::bigint + $2::bigint)::text RETURNING value`,
    [CLOCK_OFFSET_KEY, ms],
  );
  return Number(onlyRow(r).value);
}

export function createSandboxPayers(deps: { db: Db; accounts: AccountsService; ledger: Ledger; ids: IdGenerator }) {
  return {
    /**
     * A person's e-mail account with its payer profile and a wallet funded from the sandbox mint (a system account
     * standing for money from outside).
     */
    async create(input: {
      email: string;
      password?: string;
      balances: Record<string, string>;
      kycStatus?: PayerKycStatus;
      country?: string;
    }) {
      // The account and its payer profile in one transaction (people.ts); the funding follows.
      const res = await deps.accounts.createPayer(input);
      if (!res.ok) return res;
      const payerId = String(res.value.payerId);
      await deps.db.tx(async (q) => {
        for (const [asset, amount] of Object.entries(input.balances)) {
          if (Number(amount) === 0) continue;
          await deps.ledger.transfer(q, {
            id: `sandbox-fund:${payerId}:${asset}:${deps.ids.next()}`,
            debit: platformAccount('sandbox_mint', asset),
            credit: { ownerType: 'payer', ownerId: payerId, asset },
            amount,
            kind: 'sandbox.fund',
            ref: payerId,
          });
        }
      });
      const balances = await deps.ledger.balances(deps.db, 'payer', payerId);
      return {
        ok: true as const,
        value: {
          payerId,
          email: res.value.email,
          password: res.value.password,
          kycStatus: res.value.kycStatus,
          country: input.country ?? null,
          balances: Object.fromEntries(balances.map((b) => [b.asset, b.available])),
        },
      };
    },
  };
}

export function registerSandboxRoutes(
  app: FastifyInstance,
  deps: {
    adminToken: string;
    db: Db;
    clock: Clock;
    accounts: AccountsService;
    orders: OrderService;
    payers: ReturnType<typeof createSandboxPayers>;
    onClockAdvance?: () => void;
    /**
     * The clock follows the offset shared in the database by every process (else a test's own clock, moved locally).
     */
    sharedClock?: { refresh(): Promise<void> };
  },
) {
  const guard = adminGuard(deps.adminToken);
  const tags = ['Sandbox'];
  const security = [{ adminToken: [] }];
  app.register(async (r) => {
    r.addHook('onRequest', guard);

    r.post(
      '/sandbox/v1/payers',
      { schema: { tags, security, summary: 'Create a payer with a funded wallet', body: PayerCreate } },
      async (req, reply) => {
        const res = await deps.payers.create(req.body as z.infer<typeof PayerCreate>);
        if (!res.ok) return adminError(reply, res.code === 'EMAIL_TAKEN' ? 409 : 400, res.code, res.message);
        return reply.code(201).send(res.value);
      },
    );

    r.post(
      '/sandbox/v1/orders/:prepayId/pay',
      {
        schema: {
          tags,
          security,
          summary: "Pay an order as a payer (the checkout page's pay button)",
          params: z.object({ prepayId: z.string().regex(/^\d{1,19}$/) }),
          body: z.object({ payerEmail: z.string().email(), currency: z.string().optional() }),
        },
      },
      async (req, reply) => {
        const { prepayId } = req.params as { prepayId: string };
        const body = req.body as { payerEmail: string; currency?: string };
        const payer = await deps.accounts.findPayerByEmail(body.payerEmail);
        if (!payer) return adminError(reply, 404, 'PAYER_NOT_FOUND');
        const res = await deps.orders.pay(prepayId, String(payer.payerId), body.currency);
        if (!res.ok) return adminError(reply, res.code === 'ORDER_NOT_FOUND' ? 404 : 409, res.code, res.message);
        return { prepayId: res.value.prepayId, status: res.value.status, transactionId: res.value.transactionId };
      },
    );

    r.post(
      '/sandbox/v1/clock/advance',
      {
        schema: {
          tags,
          security,
          summary: "Move the platform's business clock forward",
          body: z.object({
            ms: z
              .number()
              .int()
              .positive()
              .max(400 * 24 * 3_600_000),
          }),
        },
      },
      async (req) => {
        const { ms } = req.body as { ms: number };
        if (deps.sharedClock) {
          deps.clock.setOffset(await advanceClockOffset(deps.db, ms));
        } else {
          deps.clock.setOffset(deps.clock.offsetMs() + ms);
          await persistClockOffset(deps.db, deps.clock.offsetMs());
        }
        deps.onClockAdvance?.();
        return { now: deps.clock.now(), offsetMs: deps.clock.offsetMs() };
      },
    );

    r.get(
      '/sandbox/v1/clock',
      {
        schema: { tags, security, summary: "The platform's business clock (shared by every process on the database)" },
      },
      async () => {
        await deps.sharedClock?.refresh();
        return { now: deps.clock.now(), offsetMs: deps.clock.offsetMs() };
      },
    );
  });
}
