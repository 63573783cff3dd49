import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Merchant } from '../accounts/service.ts';
import type { SafeHtml } from '../web/html.ts';
import type { MerchantUser } from './users.ts';

/** A logged-in dashboard request: the user, the merchant it belongs to, the session's CSRF token. */
export interface DashboardCtx {
  user: MerchantUser;
  merchant: Merchant;
  csrf: string;
}

export type PageHandler<B = unknown> = (
  req: FastifyRequest,
  reply: FastifyReply,
  ctx: DashboardCtx,
  body: B,
) => Promise<unknown>;

/**
 * What a dashboard section (wallets, payouts, sub-merchants, statements) declares its pages with: the same session,
 * CSRF and frame as every other dashboard page (routes.ts builds it once).
 */
export interface DashboardPages {
  /** A page for a logged-in merchant user; anyone else goes to the login page. */
  get(path: string, handler: PageHandler): void;
  /** A form post: a logged-in user and the session's CSRF token, or nothing happens. */
  post(path: string, handler: PageHandler): void;
  /** A form post whose fields are parsed with `schema` after the CSRF check; a body that does not fit: `invalid`. */
  postForm<S extends z.ZodType>(
    path: string,
    schema: S,
    invalid: PageHandler<string>,
    handler: PageHandler<z.output<S>>,
  ): void;
  /** The page in the dashboard frame. */
  frame(reply: FastifyReply, title: string, body: SafeHtml, ctx: DashboardCtx, status?: number): unknown;
  notFound(reply: FastifyReply, ctx: DashboardCtx): unknown;
}

export const param = (req: FastifyRequest, name: string) => String((req.params as Record<string, unknown>)[name] ?? '');
export const queryOf = (req: FastifyRequest) => (req.query ?? {}) as Record<string, string | undefined>;
