import type { ConsoleSection } from './routes.ts';

/** The console's merchants pages (being built). */
export const merchantsSection: ConsoleSection = () => {};
