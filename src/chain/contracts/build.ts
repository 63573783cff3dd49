/**
 * Regenerates TestToken.json (ABI + bytecode) from TestToken.sol with solc-js and @openzeppelin/contracts.
 * The artifact is committed so the app and tests never compile at run time.
 * Run: npx tsx src/chain/contracts/build.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const solc = require('solc');
const here = dirname(fileURLToPath(import.meta.url));

const input = {
  language: 'Solidity',
  sources: { 'TestToken.sol': { content: readFileSync(join(here, 'TestToken.sol'), 'utf8') } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'paris',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const findImports = (path: string) => {
  try {
    return { contents: readFileSync(require.resolve(path), 'utf8') };
  } catch {
    return { error: `not found: ${path}` };
  }
};
/** The parts of solc's standard JSON output read here. */
interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: { 'TestToken.sol': { TestToken: { abi: unknown; evm: { bytecode: { object: string } } } } };
}
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as SolcOutput;
const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
const c = out.contracts['TestToken.sol'].TestToken;
const artifact = {
  contractName: 'TestToken',
  compiler: solc.version(),
  abi: c.abi,
  bytecode: `0x${c.evm.bytecode.object}`,
};
writeFileSync(join(here, 'TestToken.json'), JSON.stringify(artifact, null, 2) + '\n');
console.log(`wrote TestToken.json (${c.evm.bytecode.object.length / 2} bytes of bytecode)`);
