import type { FastifyReply } from 'fastify';
import { html } from '../web/html.ts';
import type { DashboardCtx, DashboardPages, PageHandler } from './pages.ts';
import { card } from './views.ts';

/**
 * The dashboard's page tools for a section behind a feature flag: while the merchant does not have the feature, every
 * page and form of the section answers 403 with a sentence saying so, and nothing is asked of the service (the nav
 * link is hidden too: dashboardFrame).
 */
export function featurePages(
  pages: DashboardPages,
  gate: { enabled: (ctx: DashboardCtx) => boolean; title: string; id: string; sentence: string },
): DashboardPages {
  const off = async (reply: FastifyReply, ctx: DashboardCtx) =>
    pages.frame(
      reply,
      gate.title,
      card(html`<h1>${gate.title}</h1><p class="muted" id="${gate.id}">${gate.sentence} Ask the platform operator to
        enable it.</p>`),
      ctx,
      403,
    );
  const gated =
    <B>(handler: PageHandler<B>): PageHandler<B> =>
    (req, reply, ctx, body) =>
      gate.enabled(ctx) ? handler(req, reply, ctx, body) : off(reply, ctx);
  return {
    ...pages,
    get: (path, handler) => pages.get(path, gated(handler)),
    post: (path, handler) => pages.post(path, gated(handler)),
    postForm: (path, schema, invalid, handler) => pages.postForm(path, schema, gated(invalid), gated(handler)),
  };
}
