import type { ConsoleSection } from './routes.ts';

/** The console's brokers pages (being built). */
export const brokersSection: ConsoleSection = () => {};
