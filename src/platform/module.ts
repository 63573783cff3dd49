import type { FastifyInstance } from 'fastify';
import type { OutboxClass, OutboxHandler } from './outbox/service.ts';
import type { WebhookFamily } from './outbox/webhook-family.ts';

/** A background loop of a module: one tick does what is due and returns how much it did (0: nothing, wait). */
interface ModuleWorker {
  name: string;
  tick(): Promise<number>;
  /** The loop's idle wait for the app's base idle time (default: the base). */
  idleMs?: (base: number) => number;
}

/**
 * What one domain contributes to the app, built by its `createXModule(deps)` from explicit dependencies: the
 * services it exposes to later modules, plus its routes, worker loops, outbox handlers, outbox slot classes and
 * webhook families. `app.ts` creates the modules in dependency order and collects these; nothing is bound late.
 */
export interface ModuleParts {
  /** Registers the module's HTTP routes (its signed family, pages, admin and sandbox endpoints). */
  routes?(app: FastifyInstance): void;
  workers?: ModuleWorker[];
  outboxHandlers?: Record<string, OutboxHandler>;
  outboxClasses?: OutboxClass[];
  webhookFamilies?: Record<string, WebhookFamily>;
}
