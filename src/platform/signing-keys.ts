import { createPrivateKey, sign as signWith } from 'node:crypto';
import type { Clock } from './clock.ts';
import { generateRsaKeyPair, md5HexUpper, rsaSignBase64, type SecretBox } from './crypto.ts';
import type { Db } from './db/client.ts';
import type { IdGenerator } from './ids.ts';

/**
 * The platform's RSA keys for signing outgoing webhooks, one active key per purpose.
 * Generated on first use, kept in the database with the private half encrypted, rotatable:
 * rotation switches signing and the published key at the same instant.
 */
interface SigningKey {
  serial: string;
  publicKeyPem: string;
  sign(message: string | Buffer): string;
  /**
   * The same signature, computed on libuv's thread pool: a 2048-bit RSA signature is ~0.3 ms of CPU, which a busy
   * delivery engine would otherwise spend on its one JavaScript thread.
   */
  signAsync(message: string | Buffer): Promise<string>;
}

export function createSigningKeys(deps: { db: Db; box: SecretBox; clock: Clock; ids: IdGenerator }) {
  const { db, box, clock, ids } = deps;
  const cache = new Map<string, SigningKey>();

  function toKey(row: { serial: string; public_pem: string; private_pem_sealed: string }): SigningKey {
    // Parsed once: parsing the PEM on every signature cost most of a webhook delivery's CPU time.
    const privateKey = createPrivateKey(box.open(row.private_pem_sealed));
    return {
      serial: row.serial,
      publicKeyPem: row.public_pem,
      sign: (m) => rsaSignBase64(privateKey, m),
      signAsync: (m) =>
        new Promise((resolve, reject) =>
          signWith('RSA-SHA256', typeof m === 'string' ? Buffer.from(m, 'utf8') : m, privateKey, (e, sig) =>
            e ? reject(e) : resolve(sig.toString('base64')),
          ),
        ),
    };
  }

  async function insert(purpose: string, deactivateOld: boolean): Promise<SigningKey> {
    const { publicKeyPem, privateKeyPem } = generateRsaKeyPair(2048);
    const serial = md5HexUpper(publicKeyPem);
    await db.tx(async (q) => {
      if (deactivateOld)
        await q.query(`UPDATE signing_keys SET active = false WHERE purpose = $1 AND active`, [purpose]);
      await q.query(
        `INSERT INTO signing_keys (id, purpose, serial, public_pem, private_pem_sealed, active, created_at)
          VALUES ($1, $2, $3, $4, $5, true, $6)
         ON CONFLICT DO NOTHING`,
        [ids.next(), purpose, serial, publicKeyPem, box.seal(privateKeyPem), clock.now()],
      );
    });
    cache.delete(purpose);
    return current(purpose);
  }

  async function current(purpose: string): Promise<SigningKey> {
    const hit = cache.get(purpose);
    if (hit) return hit;
    const row = (
      await db.query(`SELECT serial, public_pem, private_pem_sealed FROM signing_keys WHERE purpose = $1 AND active`, [
        purpose,
      ])
    ).rows[0];
    if (!row) return insert(purpose, false);
    const key = toKey(row);
    cache.set(purpose, key);
    return key;
  }

  return {
    current,
    rotate: (purpose: string) => insert(purpose, true),
    /** Forget cached keys (another process may have rotated). */
    refresh: () => cache.clear(),
  };
}
export type SigningKeys = ReturnType<typeof createSigningKeys>;
