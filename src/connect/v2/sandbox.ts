import type { Result } from '../../platform/errors.ts';
import type { Partner } from '../partners.ts';
import type { Gen2DomainError } from './codes.ts';

/** PRE-WIRE (being written): the §9 sandbox operations. */
export function createGen2Sandbox(_deps: unknown) {
  return {
    async placeOrder(_partner: Partner, _body: Record<string, unknown>): Promise<Result<null, Gen2DomainError>> {
      throw new Error('not yet');
    },
    async transition(_partner: Partner, _body: Record<string, unknown>): Promise<Result<null, Gen2DomainError>> {
      throw new Error('not yet');
    },
  };
}
export type Gen2Sandbox = ReturnType<typeof createGen2Sandbox>;
