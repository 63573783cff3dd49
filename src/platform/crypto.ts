import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSign,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomInt,
  scrypt as scryptCb,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

const ALNUM_LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomString(length: number, alphabet = ALNUM_LOWER): string {
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}
export const randomAlnum = (length: number) => randomString(length, ALNUM);
export const randomHex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Constant-time string comparison that does not leak length through an early exit on content. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

export const sha256Hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
export const md5HexUpper = (s: string) => createHash('md5').update(s, 'utf8').digest('hex').toUpperCase();

export const hmacSha512HexUpper = (key: string, msg: string | Buffer) =>
  createHmac('sha512', key).update(msg).digest('hex').toUpperCase();
export const hmacSha256Hex = (key: string | Buffer, msg: string | Buffer) =>
  createHmac('sha256', key).update(msg).digest('hex');

export function rsaSignBase64(privateKey: string | KeyObject, msg: string | Buffer): string {
  return createSign('RSA-SHA256').update(msg).sign(privateKey, 'base64');
}
export function generateRsaKeyPair(bits = 2048): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey.trim(), privateKeyPem: privateKey };
}

// Passwords: scrypt with a per-password salt; format scrypt$N$r$p$salt$hash (base64).
const SCRYPT = { N: 16384, r: 8, p: 1 };
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, { ...SCRYPT, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt') return false;
  if (salt === undefined || hash === undefined) throw new Error('malformed password hash');
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(actual, expected);
}

/** Authenticated encryption of secrets and PII at rest: AES-256-GCM, "v1.iv.tag.ciphertext" (base64url). */
export interface SecretBox {
  seal(plain: string | Buffer): string;
  open(sealed: string): string;
  openBuffer(sealed: string): Buffer;
}
export function createSecretBox(keyHex: string): SecretBox {
  const key = Buffer.from(keyHex, 'hex');
  if (key.length !== 32) throw new Error('SECRETS_KEY must be 32 bytes of hex (64 hex characters)');
  const openBuffer = (sealed: string) => {
    const [v, iv, tag, ct] = sealed.split('.');
    if (v !== 'v1' || iv === undefined || tag === undefined || ct === undefined)
      throw new Error('unknown secret format');
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]);
  };
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([c.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain), c.final()]);
      return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
    },
    open: (sealed) => openBuffer(sealed).toString('utf8'),
    openBuffer,
  };
}
