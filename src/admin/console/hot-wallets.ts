import type { ConsoleSection } from './routes.ts';

/** The console's hot-wallets pages (being built). */
export const hotWalletsSection: ConsoleSection = () => {};
