import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * `npm install` on Node 20 (the version the README names) warns EBADENGINE for any locked package whose
 * `engines.node` excludes it. This reads package-lock.json and checks every range, so a dependency bump that
 * pulls a Node-22-only package (as cookie@2 did through @fastify/cookie and light-my-request) fails here.
 */
type Version = [number, number, number];

function parse(v: string): { version: Version; parts: number } {
  const nums = v
    .replace(/^v/, '')
    .split('.')
    .filter((p) => p !== '' && p !== 'x' && p !== '*')
    .map(Number);
  return { version: [nums[0] ?? 0, nums[1] ?? 0, nums[2] ?? 0], parts: nums.length };
}

const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

function satisfiesComparator(v: Version, c: string): boolean {
  const m = /^(>=|<=|>|<|\^|~|=)?(.*)$/.exec(c)!;
  const op = m[1] ?? '';
  if (m[2] === '*' || m[2] === '') return true;
  const { version: r, parts } = parse(m[2]!); // (.*) takes part in every match
  switch (op) {
    case '>=':
      return cmp(v, r) >= 0;
    case '>':
      return cmp(v, r) > 0;
    case '<=':
      return cmp(v, r) <= 0;
    case '<':
      return cmp(v, r) < 0;
    case '^':
      return cmp(v, r) >= 0 && (r[0] > 0 ? v[0] === r[0] : r[1] > 0 ? v[0] === 0 && v[1] === r[1] : cmp(v, r) === 0);
    case '~':
      return cmp(v, r) >= 0 && v[0] === r[0] && (parts < 2 || v[1] === r[1]);
    default: // exact or partial ("20", "6.*", "10.x")
      return v[0] === r[0] && (parts < 2 || v[1] === r[1]) && (parts < 3 || v[2] === r[2]);
  }
}

export function satisfies(version: string, range: string): boolean {
  const v = parse(version).version;
  return range.split('||').some((alt) => {
    const comparators = alt
      .trim()
      .replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1')
      .split(/\s+/)
      .filter(Boolean);
    return comparators.length === 0 || comparators.every((c) => satisfiesComparator(v, c));
  });
}

test('the range check reads npm engine ranges as npm does', () => {
  for (const r of [
    '>=20',
    '^18.18.0 || ^20.9.0 || >=21.1.0',
    '20 || >=22',
    '>= 4',
    '6.* || 8.* || >= 10.*',
    '>=16 || 14 >=14.17',
    '*',
    '>= 10.x',
  ])
    assert.ok(satisfies('20.11.0', r), r);
  for (const r of ['>=22', '^20.19.0 || ^22.13.0 || >=24', '18 || >=22', '<20', '^18.0.0'])
    assert.equal(satisfies('20.11.0', r), false, r);
});

test('every package in package-lock.json admits Node 20 and the running Node (npm install prints no EBADENGINE)', () => {
  const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as {
    packages: Record<string, { engines?: { node?: string }; dev?: boolean }>;
  };
  const bad: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = entry.engines?.node;
    if (typeof range !== 'string') continue;
    // Node 20 as used here and in CI: the running version when it is a 20.x, else the current 20 LTS line.
    const node20 = process.versions.node.startsWith('20.') ? process.versions.node : '20.19.0';
    for (const v of new Set([node20, process.versions.node])) {
      if (!satisfies(v, range)) bad.push(`${path || 'root'} requires node ${range} (not ${v})`);
    }
  }
  assert.deepEqual(bad, []);
});
