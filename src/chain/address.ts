import { createHash } from 'node:crypto';
import { base58, base58xrp, bech32, bech32m, createBase58check, utils } from '@scure/base';
import { getAddress, isAddress } from 'viem';
import { err, ok, type Result } from '../platform/errors.ts';
import { NETWORKS, type NetworkFamily } from './networks.ts';

/**
 * Address and memo validation beyond the registry regex: each family's checksum, decoded with maintained
 * encoders (viem for EIP-55, @scure/base for base58check / bech32 / bech32m / XRP base58).
 * An address that belongs to another network is rejected with a message naming that network.
 */
type AddressErrorCode = 'UNSUPPORTED_NETWORK' | 'INVALID_ADDRESS' | 'WRONG_NETWORK' | 'INVALID_MEMO';

const sha256 = (d: Uint8Array) => new Uint8Array(createHash('sha256').update(d).digest());
const base58check = createBase58check(sha256);
const xrpBase58check = utils.chain(
  utils.checksum(4, (d) => sha256(sha256(d))),
  base58xrp,
);

type Check = { valid: true; normalized: string } | { valid: false; reason: string };
const bad = (reason: string): Check => ({ valid: false, reason });
const good = (normalized: string): Check => ({ valid: true, normalized });

function tryDecode<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function checkEvm(a: string): Check {
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) return bad('not a 0x-prefixed 20-byte hex address');
  const hexPart = a.slice(2);
  // EIP-55: all-lower and all-upper carry no checksum and are accepted; mixed case must match exactly.
  if (hexPart !== hexPart.toUpperCase() && !isAddress(a, { strict: true }))
    return bad('EIP-55 checksum mismatch (mixed case is wrong)');
  return good(getAddress(a));
}

const BTC_VERSIONS: Record<number, string> = {
  0x00: 'mainnet P2PKH',
  0x05: 'mainnet P2SH',
  0x6f: 'testnet P2PKH',
  0xc4: 'testnet P2SH',
};

function checkBtc(a: string): Check {
  if (/^(bc1|tb1|bcrt1)/i.test(a)) {
    if (a !== a.toLowerCase() && a !== a.toUpperCase()) return bad('bech32 address mixes upper and lower case');
    const lower = a.toLowerCase();
    const decoded =
      tryDecode(() => bech32.decode(lower as `${string}1${string}`, 90)) ??
      tryDecode(() => bech32m.decode(lower as `${string}1${string}`, 90));
    if (!decoded) return bad('bech32/bech32m checksum mismatch');
    if (decoded.prefix !== 'bc') return bad(`human-readable part "${decoded.prefix}" is not Bitcoin mainnet ("bc")`);
    const [version, ...rest] = decoded.words;
    const program = tryDecode(() => bech32.fromWords(rest));
    if (!program || version === undefined || version > 16) return bad('invalid witness program');
    // BIP-350: version 0 must use bech32, versions 1..16 bech32m.
    const usedBech32 = tryDecode(() => bech32.decode(lower as `${string}1${string}`, 90)) !== undefined;
    if (version === 0 && !usedBech32) return bad('segwit v0 address must use bech32, not bech32m');
    if (version !== 0 && usedBech32) return bad(`segwit v${version} address must use bech32m, not bech32`);
    if (version === 0 && program.length !== 20 && program.length !== 32)
      return bad('segwit v0 program must be 20 or 32 bytes');
    if (program.length < 2 || program.length > 40) return bad('witness program length out of range');
    return good(lower);
  }
  const payload = tryDecode(() => base58check.decode(a));
  if (!payload) return bad('base58check checksum mismatch');
  const versionByte = payload[0];
  if (payload.length !== 21 || versionByte === undefined) return bad('base58check payload is not 21 bytes');
  const kind = BTC_VERSIONS[versionByte];
  if (!kind) return bad(`version byte 0x${versionByte.toString(16)} is not a Bitcoin address`);
  if (kind.startsWith('testnet')) return bad(`Bitcoin ${kind} address, not mainnet`);
  return good(a);
}

function checkTron(a: string): Check {
  const payload = tryDecode(() => base58check.decode(a));
  if (!payload) return bad('base58check checksum mismatch');
  if (payload.length !== 21 || payload[0] !== 0x41) return bad('TRON addresses decode to 21 bytes starting with 0x41');
  return good(a);
}

function checkXrp(a: string): Check {
  if (a.startsWith('X'))
    return bad('X-addresses are not accepted; give the classic r-address and the destination tag as memo');
  const payload = tryDecode(() => xrpBase58check.decode(a));
  if (!payload) return bad('XRP base58 checksum mismatch');
  if (payload.length !== 21 || payload[0] !== 0x00) return bad('XRP account ids decode to 21 bytes starting with 0x00');
  return good(a);
}

function checkSol(a: string): Check {
  const bytes = tryDecode(() => base58.decode(a));
  if (!bytes) return bad('not base58');
  if (bytes.length !== 32) return bad(`decodes to ${bytes.length} bytes, a Solana address is 32`);
  return good(a);
}

const CHECKS: Record<NetworkFamily, (a: string) => Check> = {
  evm: checkEvm,
  btc: checkBtc,
  tron: checkTron,
  xrp: checkXrp,
  sol: checkSol,
};
const FAMILY_NAMES: Record<NetworkFamily, string> = {
  evm: 'an EVM (ETH/BSC)',
  btc: 'a Bitcoin',
  tron: 'a TRON',
  xrp: 'an XRP Ledger',
  sol: 'a Solana',
};

/** Which other family this string is a valid address of, to explain a wrong-network mistake. */
function otherFamily(address: string, not: NetworkFamily): NetworkFamily | undefined {
  // Solana accepts any 32-byte base58 string, so it is only a guess after the checksummed families.
  const order: NetworkFamily[] = ['evm', 'btc', 'tron', 'xrp', 'sol'];
  return order.find((f) => f !== not && CHECKS[f](address).valid);
}

export function validateAddress(network: string, address: string): Result<{ address: string }, AddressErrorCode> {
  const n = NETWORKS[network];
  if (!n) return err('UNSUPPORTED_NETWORK', `network ${network} is not supported`);
  const matchesRegex = new RegExp(n.addressRegex).test(address);
  const check = matchesRegex ? CHECKS[n.family](address) : bad(`does not match ${n.code} address format`);
  if (check.valid) return ok({ address: check.normalized });
  const other = otherFamily(address, n.family);
  if (other)
    return err(
      'WRONG_NETWORK',
      `this is ${FAMILY_NAMES[other]} address, not valid on network ${n.code} (${n.name})`,
      'address',
    );
  return err('INVALID_ADDRESS', `invalid ${n.code} address: ${check.reason}`, 'address');
}

export function validateMemo(
  network: string,
  memo: string | undefined | null,
): Result<{ memo: string }, AddressErrorCode> {
  const n = NETWORKS[network];
  if (!n) return err('UNSUPPORTED_NETWORK', `network ${network} is not supported`);
  const m = memo ?? '';
  if (!n.memoRequired) {
    if (m !== '') return err('INVALID_MEMO', `network ${n.code} has no memo; leave it empty`, 'memo');
    return ok({ memo: '' });
  }
  if (m === '') return err('INVALID_MEMO', `network ${n.code} requires a memo`, 'memo');
  if (!new RegExp(n.memoRegex).test(m)) return err('INVALID_MEMO', `memo does not match ${n.memoRegex}`, 'memo');
  // XRP destination tags are unsigned 32-bit integers.
  if (n.family === 'xrp' && BigInt(m) > 4294967295n)
    return err('INVALID_MEMO', 'XRP destination tag exceeds 4294967295', 'memo');
  return ok({ memo: m });
}

/**
 * Well-formed addresses nobody holds a key for: coins sent there are gone. Valid as addresses (they appear on
 * chain), refused as a withdrawal destination. Keyed by family; EVM entries compare case-insensitively.
 */
const BURN_ADDRESSES: Record<NetworkFamily, ReadonlySet<string>> = {
  evm: new Set([
    '0x0000000000000000000000000000000000000000', // the zero address
    '0x000000000000000000000000000000000000dead', // the conventional "dEaD" burn address
    '0xdead000000000000000042069420694206942069',
  ]),
  // hash160 of zero; the "eater" vanity
  btc: new Set(['1111111111111111111114oLvT2', '1BitcoinEaterAddressDontSendf59kuE']),
  tron: new Set(['T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb']), // TRON's zero address
  xrp: new Set([
    'rrrrrrrrrrrrrrrrrrrrrhoLvTp', // ACCOUNT_ZERO
    'rrrrrrrrrrrrrrrrrrrrBZbvji', // ACCOUNT_ONE
    'rrrrrrrrrrrrrrrrrNAMEtxvNvQ', // name reservation black hole
    'rrrrrrrrrrrrrrrrrrrn5RM1rHd', // NaN address
  ]),
  // system program; incinerator
  sol: new Set(['11111111111111111111111111111111', '1nc1nerator11111111111111111111111111111111']),
};

function isBurnAddress(family: NetworkFamily, address: string): boolean {
  return BURN_ADDRESSES[family].has(family === 'evm' ? address.toLowerCase() : address);
}

export function validateDestination(
  network: string,
  address: string,
  memo?: string | null,
): Result<{ address: string; memo: string }, AddressErrorCode> {
  const a = validateAddress(network, address);
  if (!a.ok) return a;
  const n = NETWORKS[network];
  if (n && isBurnAddress(n.family, a.value.address)) {
    return err(
      'INVALID_ADDRESS',
      `invalid ${n.code} address: ${a.value.address} is a burn address (no one can spend from it)`,
      'address',
    );
  }
  const m = validateMemo(network, memo);
  if (!m.ok) return m;
  return ok({ address: a.value.address, memo: m.value.memo });
}
