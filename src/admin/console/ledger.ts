import type { ConsoleSection } from './routes.ts';

/** The console's ledger pages (being built). */
export const ledgerSection: ConsoleSection = () => {};
