import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateAddress, validateDestination, validateMemo } from './address.ts';
import { ASSET_NETWORKS, networkInfo, NETWORKS } from './networks.ts';

// Published vectors: EIP-55, BIP-173, BIP-350, well-known mainnet addresses.
const VALID: Record<string, string[]> = {
  ETH: [
    '0x52908400098527886E0F7030069857D2E4169EE7',
    '0x8617E340B3D01FA5F11F306F4090FD50E238070D', // EIP-55 (all caps)
    '0xde709f2102306220921060314715629080e2fb77',
    '0x27b1fdb04752bbc536007a920d24acb045561c26', // all lower
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  ],
  BSC: ['0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB', '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb'],
  BTC: [
    '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2',
    '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy',
    '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa',
    'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4',
    'BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4',
    'bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3',
    'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0', // BIP-350 taproot (v1, bech32m)
  ],
  TRX: ['TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t', 'TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7'],
  XRP: ['rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', 'rf1BiGeXwwQoi8Z2ueFYTEXSwuJYfV2Jpn', 'rrrrrrrrrrrrrrrrrrrrrhoLvTp'],
  SOL: [
    '11111111111111111111111111111111',
    'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
    'So11111111111111111111111111111111111111112',
  ],
};

const INVALID: Record<string, { address: string; code: string; message: RegExp }[]> = {
  ETH: [
    { address: '0x52908400098527886E0F7030069857D2E4169Ee7', code: 'INVALID_ADDRESS', message: /EIP-55/ },
    { address: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD', code: 'INVALID_ADDRESS', message: /EIP-55/ },
    { address: '52908400098527886E0F7030069857D2E4169EE7', code: 'INVALID_ADDRESS', message: /format/ },
    { address: '0x52908400098527886E0F7030069857D2E4169EE', code: 'INVALID_ADDRESS', message: /format/ },
    { address: '0X52908400098527886E0F7030069857D2E4169EE7', code: 'INVALID_ADDRESS', message: /format/ },
    {
      address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
      code: 'WRONG_NETWORK',
      message: /TRON address, not valid on network ETH/,
    },
    { address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', code: 'WRONG_NETWORK', message: /Bitcoin address/ },
  ],
  BSC: [
    {
      address: 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh',
      code: 'WRONG_NETWORK',
      message: /XRP Ledger address, not valid on network BSC/,
    },
  ],
  BTC: [
    { address: '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3', code: 'INVALID_ADDRESS', message: /checksum/ },
    { address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5', code: 'INVALID_ADDRESS', message: /checksum/ },
    { address: 'tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx', code: 'INVALID_ADDRESS', message: /format/ },
    {
      address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh',
      code: 'INVALID_ADDRESS',
      message: /v0 address must use bech32, not bech32m/,
    }, // BIP-350
    {
      address: 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd',
      code: 'INVALID_ADDRESS',
      message: /v1 address must use bech32m/,
    }, // BIP-350
    {
      address: 'bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4',
      code: 'INVALID_ADDRESS',
      message: /mixes upper and lower/,
    },
    {
      address: '0x52908400098527886E0F7030069857D2E4169EE7',
      code: 'WRONG_NETWORK',
      message: /EVM \(ETH\/BSC\) address, not valid on network BTC/,
    },
  ],
  TRX: [
    { address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u', code: 'INVALID_ADDRESS', message: /checksum/ },
    // valid base58check, prefix 0x42
    { address: 'TZwy8nZDEjdqgwYW1vqvTkTZW7SEYfoe8d', code: 'INVALID_ADDRESS', message: /0x41/ },
    { address: '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB', code: 'WRONG_NETWORK', message: /EVM/ },
  ],
  XRP: [
    { address: 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTi', code: 'INVALID_ADDRESS', message: /checksum/ },
    { address: 'X7AcgcsBL6XDcUb289X4mJ8djcdyKaB5hJDWMArnXr61cqZ', code: 'INVALID_ADDRESS', message: /format/ },
    { address: 'r0000000000000000000000000', code: 'INVALID_ADDRESS', message: /format/ },
  ],
  SOL: [
    {
      address: '44aLB2AXRPXCkyeVpyU8kHr4p56Vhwfy8cdz1unGjHR',
      code: 'INVALID_ADDRESS',
      message: /31 bytes, a Solana address is 32/,
    },
    { address: '22eS8EtzV245szybe3fqk3tDmsoXmthLRuUo5GoFNKi8j', code: 'INVALID_ADDRESS', message: /format/ },
    { address: 'So1111111111111111111111111111111111111111112', code: 'INVALID_ADDRESS', message: /format/ },
    { address: '0OIl1111111111111111111111111111', code: 'INVALID_ADDRESS', message: /format/ },
    {
      address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
      code: 'WRONG_NETWORK',
      message: /TRON address, not valid on network SOL/,
    },
  ],
};

describe('address validation', () => {
  for (const [network, addresses] of Object.entries(VALID)) {
    test(`${network}: valid vectors accepted`, () => {
      for (const a of addresses) {
        const r = validateAddress(network, a);
        assert.ok(r.ok, `${a} should be valid on ${network}: ${!r.ok && r.message}`);
        assert.match(a, new RegExp(networkInfo(network).addressRegex), 'registry regex agrees');
      }
    });
  }
  for (const [network, vectors] of Object.entries(INVALID)) {
    test(`${network}: invalid vectors rejected with a clear reason`, () => {
      for (const v of vectors) {
        const r = validateAddress(network, v.address);
        assert.equal(r.ok, false, `${v.address} should be rejected on ${network}`);
        if (r.ok) continue;
        assert.equal(r.code, v.code, `${v.address}: ${r.message}`);
        assert.match(r.message ?? '', v.message);
      }
    });
  }

  test('EVM addresses come back EIP-55 checksummed', () => {
    const r = validateAddress('ETH', '0x8617e340b3d01fa5f11f306f4090fd50e238070d');
    assert.deepEqual(r, { ok: true, value: { address: '0x8617E340B3D01FA5F11F306F4090FD50E238070D' } });
  });

  test('unknown network', () => {
    const r = validateAddress('DOGE', 'D8vFz4p1L37jdg47HXKtSHA5uYLYxbGgPD');
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'UNSUPPORTED_NETWORK');
  });

  test('memo rules: XRP requires a 32-bit destination tag, other networks take none', () => {
    assert.ok(validateMemo('XRP', '12345').ok);
    assert.ok(validateMemo('XRP', '4294967295').ok);
    for (const m of ['', undefined, '4294967296', '12a', '-1', '99999999999']) {
      const r = validateMemo('XRP', m);
      assert.equal(r.ok, false, `memo ${m} should be rejected`);
      assert.equal(!r.ok && r.code, 'INVALID_MEMO');
    }
    assert.ok(validateMemo('ETH', '').ok);
    const r = validateMemo('ETH', '123');
    assert.equal(!r.ok && r.code, 'INVALID_MEMO');
    assert.match((!r.ok && r.message) || '', /no memo/);
    const d = validateDestination('XRP', 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh', '');
    assert.equal(!d.ok && d.code, 'INVALID_MEMO');
  });

  test('burn addresses are refused as a withdrawal destination with the address error', () => {
    const burns: [string, string][] = [
      ['ETH', '0x0000000000000000000000000000000000000000'],
      ['BSC', '0x0000000000000000000000000000000000000000'],
      ['ETH', '0x000000000000000000000000000000000000dEaD'],
      ['BSC', '0x000000000000000000000000000000000000dead'],
      ['ETH', '0xdEAD000000000000000042069420694206942069'],
      ['BTC', '1111111111111111111114oLvT2'],
      ['BTC', '1BitcoinEaterAddressDontSendf59kuE'],
      ['TRX', 'T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb'],
      ['XRP', 'rrrrrrrrrrrrrrrrrrrrrhoLvTp'],
      ['XRP', 'rrrrrrrrrrrrrrrrrrrrBZbvji'],
      ['SOL', '11111111111111111111111111111111'],
      ['SOL', '1nc1nerator11111111111111111111111111111111'],
    ];
    for (const [network, address] of burns) {
      const d = validateDestination(network, address, network === 'XRP' ? '12345' : '');
      assert.equal(d.ok, false, `${network} ${address} must be refused`);
      assert.equal(!d.ok && d.code, 'INVALID_ADDRESS');
      assert.equal(!d.ok && d.field, 'address');
      assert.match((!d.ok && d.message) || '', /burn address/);
    }
    assert.ok(validateDestination('ETH', '0x52908400098527886E0F7030069857D2E4169EE7', '').ok);
  });

  test('registry covers the required asset/network pairs with every field', () => {
    const pairs = ASSET_NETWORKS.map((a) => `${a.asset}/${a.network}`);
    for (const p of [
      'BTC/BTC',
      'ETH/ETH',
      'USDT/ETH',
      'USDT/BSC',
      'USDT/TRX',
      'USDC/ETH',
      'USDC/BSC',
      'BNB/BSC',
      'TRX/TRX',
      'XRP/XRP',
      'SOL/SOL',
    ]) {
      assert.ok(pairs.includes(p), p);
    }
    for (const a of ASSET_NETWORKS) {
      const n = NETWORKS[a.network];
      assert.ok(n, a.network);
      for (const f of [a.withdrawFee, a.withdrawMin, a.withdrawMax, a.withdrawIntegerMultiple])
        assert.match(f, /^\d+(\.\d+)?$/);
      assert.ok(n.confirmations >= 1);
      if (a.contractAddress)
        assert.ok(validateAddress(a.network, a.contractAddress).ok, `${a.asset}/${a.network} contract`);
    }
    assert.equal(networkInfo('XRP').memoRequired, true);
    assert.notEqual(networkInfo('ETH').devChainId, networkInfo('BSC').devChainId);
  });
});
