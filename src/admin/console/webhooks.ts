import type { ConsoleSection } from './routes.ts';

/** The console's webhooks pages (being built). */
export const webhooksSection: ConsoleSection = () => {};
