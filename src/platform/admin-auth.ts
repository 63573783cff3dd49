import type { FastifyReply, FastifyRequest } from 'fastify';
import { safeEqual, sha256Hex } from './crypto.ts';

/** Bearer-token guard for the operator admin API and sandbox helpers; compares hashes in constant time. */
export function adminGuard(adminToken: string) {
  const expected = sha256Hex(adminToken);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const h = req.headers.authorization ?? '';
    const token = h.startsWith('Bearer ') ? h.slice(7) : '';
    if (!safeEqual(sha256Hex(token), expected)) {
      return reply
        .code(401)
        .send({ error: { code: 'UNAUTHORIZED', message: 'A valid admin bearer token is required.' } });
    }
  };
}

export function adminError(reply: FastifyReply, status: number, code: string, message?: string) {
  return reply.code(status).send({ error: { code, message: message ?? code } });
}
