import type { ConsoleSection } from './routes.ts';

/** The console's partners pages (being built). */
export const partnersSection: ConsoleSection = () => {};
