import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { describeError, err, ok, type Result } from '../platform/errors.ts';

/**
 * Partner public keys as registered at onboarding or in the portal (binance-connect.md §9): an SPKI
 * "BEGIN PUBLIC KEY" PEM (what the guide's `openssl rsa -pubout` writes) or a PKCS#1 "BEGIN RSA PUBLIC KEY",
 * or (generation 2) bare base64 of the SPKI DER; RSA only (not RSA-PSS, EC or Ed25519), modulus of at least 1024
 * bits. Private keys and certificates are refused, even though node:crypto could derive a public key from them, so
 * a partner never sends us a secret.
 */
const MIN_RSA_BITS = 1024;
const MAX_RSA_BITS = 8192;

interface ParsedPublicKey {
  /** Normalized SPKI PEM. */
  pem: string;
  bits: number;
  fingerprint: string;
}

export function parsePartnerPublicKey(input: string): Result<ParsedPublicKey, 'INVALID_PUBLIC_KEY'> {
  const text = String(input ?? '').trim();
  // Generation 2's onboarding form takes the key as Binance's examples print it: bare base64 of the SPKI DER.
  if (!text.includes('-----') && /^[A-Za-z0-9+/=\s]{100,}$/.test(text)) {
    let der;
    try {
      der = createPublicKey({ key: Buffer.from(text.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
    } catch (e) {
      return err(
        'INVALID_PUBLIC_KEY',
        `the base64 key is not an X.509 SubjectPublicKeyInfo: ${describeError(e, 'message')}`,
      );
    }
    return checkedRsa(der);
  }
  const labels = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]);
  if (labels.length === 0)
    return err(
      'INVALID_PUBLIC_KEY',
      'not a PEM key: expected "-----BEGIN PUBLIC KEY-----" (openssl rsa -in rsa_pkcs1.pri -pubout)',
    );
  if (labels.length > 1) return err('INVALID_PUBLIC_KEY', 'give exactly one PEM block (the public key only)');
  const label = labels[0] ?? '';
  if (label.includes('PRIVATE'))
    return err(
      'INVALID_PUBLIC_KEY',
      'this is a private key; keep it secret and send only the public key (openssl rsa -in rsa_pkcs1.pri -pubout)',
    );
  if (label === 'CERTIFICATE')
    return err('INVALID_PUBLIC_KEY', 'a certificate is not accepted; send the RSA public key PEM');
  if (label !== 'PUBLIC KEY' && label !== 'RSA PUBLIC KEY')
    return err('INVALID_PUBLIC_KEY', `unsupported PEM type "${label}"; expected PUBLIC KEY or RSA PUBLIC KEY`);
  let key;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (e) {
    return err('INVALID_PUBLIC_KEY', `the PEM could not be parsed: ${describeError(e, 'message')}`);
  }
  return checkedRsa(key);
}

function checkedRsa(key: KeyObject): Result<ParsedPublicKey, 'INVALID_PUBLIC_KEY'> {
  if (key.asymmetricKeyType !== 'rsa')
    return err(
      'INVALID_PUBLIC_KEY',
      `key type ${key.asymmetricKeyType} is not accepted; only RSA (PKCS#1 v1.5 signatures) is supported`,
    );
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS)
    return err(
      'INVALID_PUBLIC_KEY',
      `RSA key of ${bits} bits is too short; at least ${MIN_RSA_BITS} bits are required`,
    );
  if (bits > MAX_RSA_BITS)
    return err('INVALID_PUBLIC_KEY', `RSA key of ${bits} bits is longer than the ${MAX_RSA_BITS}-bit maximum`);
  const der = key.export({ type: 'spki', format: 'der' });
  return ok({
    pem: String(key.export({ type: 'spki', format: 'pem' })).trim(),
    bits,
    fingerprint: createHash('sha256').update(der).digest('hex'),
  });
}
