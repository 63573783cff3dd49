import type { ConsoleSection } from './routes.ts';

/** The console's sandbox pages (being built). */
export const sandboxSection: ConsoleSection = () => {};
