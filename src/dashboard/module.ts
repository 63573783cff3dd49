import type { ModuleParts } from '../platform/module.ts';
import { registerDashboardRoutes, type DashboardDeps } from './routes.ts';

/** The merchant dashboard: a merchant's own pages over the Pay domains (orders, refunds, keys, TSPs, webhooks). */
export function createDashboardModule(deps: DashboardDeps): ModuleParts {
  return { routes: (app) => registerDashboardRoutes(app, deps) };
}
