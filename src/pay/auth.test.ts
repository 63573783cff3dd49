import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hmacSha512HexUpper } from '../platform/crypto.ts';
import { payloadOf, signPay } from './auth.ts';

// Published / spec test vectors (binance-pay.md §3).
const SECRET = 'uahr4nhailyq55yubuhuncnprfac73bcbz2qfafsevic1jruwunioxtoaozy122f';

test('HMAC-SHA512 vector from the published docs (abcd1234)', () => {
  assert.equal(
    hmacSha512HexUpper('abcd1234', '1636876819\nabcd\nakarshjain\n'),
    '0FEE450C836654F95CA8AC5B99DB385B96CAE1EDC46456A5BEA005BFA020FC113AD61D9B8595BA951A3A562BBB8556B6D063D6BA8AEF4880' +
      '97642E50ACC27ACA',
  );
  assert.equal(
    signPay('abcd1234', '1636876819', 'abcd', 'akarshjain'),
    '0FEE450C836654F95CA8AC5B99DB385B96CAE1EDC46456A5BEA005BFA020FC113AD61D9B8595BA951A3A562BBB8556B6D063D6BA8AEF4880' +
      '97642E50ACC27ACA',
  );
});

test('compact JSON body vector', () => {
  assert.equal(
    signPay(SECRET, '1700000000000', '5RhaTrZPhknNv0kDSA2UQ67cPMVNS4sA', '{"merchantTradeNo":"9825382937292"}'),
    '819672BBB6679CCA3911782256BCF52F2D365B6BECC2BFF9C3F30E672F97EC1F720C280AD5F984B1F889F66D8FA3BE0D940744B6E26BD376' +
      '751F2349D3D3E07F',
  );
});

test('Python json.dumps spacing signs over the bytes as sent', () => {
  assert.equal(
    signPay(
      SECRET,
      '1700000000000',
      '5RhaTrZPhknNv0kDSA2UQ67cPMVNS4sA',
      Buffer.from('{"merchantTradeNo": "9825382937292"}'),
    ),
    'D0AD4298D746A0BFD6DFA01EBCCC9658D14B8F9C5117943F21E90911EB32936037DC2126D56F59FC3AACAF1615B4A669450B1E5180E79EBC' +
      '1EB3181B8F3255B9',
  );
});

test('empty body signs as ts\\nnonce\\n\\n', () => {
  assert.equal(payloadOf('1', 'n', '').toString(), '1\nn\n\n');
  assert.equal(
    signPay(SECRET, '1700000000000', '5RhaTrZPhknNv0kDSA2UQ67cPMVNS4sA', ''),
    'C6DC44046E287B982989AA2447D75BEDD66F853EDE129A65367AFEE026DE1AA1192AC26F63075EE254D97A23E09427743E2D5045637D7546' +
      '98C7BDB3ED29D739',
  );
});
