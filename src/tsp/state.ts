import type { AuthStatus } from './service.ts';

/**
 * TSP authorizations (spec §7.3): which status may follow which. `store.transition` is the one conditional update
 * that applies a move (`… WHERE status = $from`), `store.expire` the batch PENDING → REJECTED of requests nobody
 * answered; the service writes each move's notification in the same transaction.
 *
 *   PENDING ──agree──▶ AUTHORIZED ──disable / replaced──▶ DISABLED
 *      └──reject / expire / replaced / withdrawn──▶ REJECTED
 */
export const AUTH_STATUSES: readonly AuthStatus[] = ['PENDING', 'AUTHORIZED', 'REJECTED', 'DISABLED'];

export const TRANSITIONS: Record<AuthStatus, readonly AuthStatus[]> = {
  PENDING: ['AUTHORIZED', 'REJECTED'],
  AUTHORIZED: ['DISABLED'],
  REJECTED: [],
  DISABLED: [],
};

export function assertTransition(from: AuthStatus, to: AuthStatus): void {
  if (!TRANSITIONS[from].includes(to)) throw new Error(`illegal TSP authorization transition ${from} → ${to}`);
}
