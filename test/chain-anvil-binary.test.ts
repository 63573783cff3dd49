import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveAnvilBinary, type AnvilResolveEnv } from '../src/chain/anvil.ts';

/** The anvil binary is found the way @foundry-rs/anvil's own bin.mjs finds it, on every platform the package ships. */
const PKG = '/app/node_modules/@foundry-rs/anvil';

function env(platform: string, arch: string, installed: string[]): AnvilResolveEnv & { asked: string[] } {
  const asked: string[] = [];
  const files = new Set(installed);
  return {
    platform,
    arch,
    packageDir: PKG,
    asked,
    resolve(spec) {
      asked.push(spec);
      const path = join('/app/node_modules', spec);
      if (!files.has(path))
        throw Object.assign(new Error(`Cannot find module '${spec}'`), { code: 'MODULE_NOT_FOUND' });
      return path;
    },
    exists: (p) => files.has(p),
  };
}

test('each shipped platform/arch resolves its own optional package', () => {
  const cases: [string, string, string][] = [
    ['linux', 'x64', '@foundry-rs/anvil-linux-amd64/bin/anvil'],
    ['linux', 'arm64', '@foundry-rs/anvil-linux-arm64/bin/anvil'],
    ['darwin', 'arm64', '@foundry-rs/anvil-darwin-arm64/bin/anvil'],
    ['darwin', 'x64', '@foundry-rs/anvil-darwin-amd64/bin/anvil'],
    ['win32', 'x64', '@foundry-rs/anvil-win32-amd64/bin/anvil.exe'],
  ];
  for (const [platform, arch, spec] of cases) {
    const e = env(platform, arch, [join('/app/node_modules', spec)]);
    assert.equal(resolveAnvilBinary(e), join('/app/node_modules', spec), `${platform}/${arch}`);
    assert.deepEqual(e.asked, [spec]);
  }
});

test(
  "without the optional package: the binary the package's postinstall downloaded, then bin.mjs's dist " + 'fallback',
  () => {
    assert.equal(resolveAnvilBinary(env('darwin', 'arm64', [join(PKG, 'anvil')])), join(PKG, 'anvil'));
    assert.equal(
      resolveAnvilBinary(env('linux', 'arm64', [join(PKG, '..', 'dist', 'anvil')])),
      join(PKG, '..', 'dist', 'anvil'),
    );
    assert.throws(() => resolveAnvilBinary(env('darwin', 'arm64', [])), /install @foundry-rs\/anvil-darwin-arm64/);
  },
);

test('a platform the package does not ship is named, with the CHAIN_RPC_URL way out', () => {
  assert.throws(() => resolveAnvilBinary(env('freebsd', 'x64', [])), /no binary for freebsd\/x64.*CHAIN_RPC_URL/);
  assert.throws(() => resolveAnvilBinary(env('win32', 'arm64', [])), /no binary for win32\/arm64/);
});

test('on this machine it finds the installed binary', () => {
  const bin = resolveAnvilBinary();
  assert.ok(existsSync(bin), bin);
  assert.match(
    bin,
    new RegExp(`@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}/bin/anvil`),
  );
});
