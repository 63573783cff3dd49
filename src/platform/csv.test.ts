import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvField, csvLines } from './csv.ts';

test('csv: quoting, and formulas neutralized while numbers stay numbers', () => {
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('=HYPERLINK("http://x")'), `"'=HYPERLINK(""http://x"")"`);
  assert.equal(csvField('+1 call'), "'+1 call");
  assert.equal(csvField('@SUM(A1)'), "'@SUM(A1)");
  assert.equal(csvField('-5.25000000'), '-5.25000000');
  assert.equal(csvField('-2+3'), "'-2+3");
  assert.equal(csvField(null), '');
  assert.equal(
    csvLines([
      ['a', 1],
      ['b', null],
    ]),
    'a,1\r\nb,\r\n',
  );
});
