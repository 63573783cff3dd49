import type { ConsoleSection } from './routes.ts';

/** The console's orders pages (being built). */
export const ordersSection: ConsoleSection = () => {};
