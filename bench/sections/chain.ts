import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWalletClient, http, parseEther, type Address } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { evmChain } from '../../src/chain/evm.ts';
import { networkInfo } from '../../src/chain/networks.ts';
import { createChainService } from '../../src/chain/service.ts';
import { createManualClock } from '../../src/platform/clock.ts';
import { createSecretBox, randomHex } from '../../src/platform/crypto.ts';
import { createIdGenerator } from '../../src/platform/ids.ts';
import { createLedger, platformAccount } from '../../src/platform/ledger/service.ts';
import { openTestDb } from '../../test/helpers.ts';
import type { LoadResult } from '../lib/load.ts';
import { row, type Section } from '../lib/types.ts';

/**
 * Withdrawals confirmed per second on the embedded anvil, beside a plain viem loop doing the same chain work
 * (sign, send, wait for the receipt, mine the confirmations) with no ledger, no database, no state machine.
 * Both run the same number of sequential ETH transfers on the same chain in the same run.
 */
const COUNT = Number(process.env.BENCH_CHAIN_COUNT ?? 40);
const randomAddress = (): Address => privateKeyToAccount(generatePrivateKey()).address;

function summarise(latencies: number[], elapsedMs: number, errors: number, firstError?: string): LoadResult {
  const s = [...latencies].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? (s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN) : NaN);
  // In-process measurement: no separate server process whose CPU could be sampled.
  return {
    requests: s.length,
    errors,
    rps: (s.length * 1000) / elapsedMs,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    serverCpuUsPerReq: null,
    ...(firstError ? { firstError } : {}),
  };
}

export const chain: Section = async (ctx) => {
  const { db, drop } = await openTestDb(ctx.kind);
  const clock = createManualClock(Date.now());
  const ledger = createLedger({ db, clock });
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-bench-chain-'));
  const svc = createChainService({
    db,
    ledger,
    clock,
    ids: createIdGenerator(),
    box: createSecretBox(randomHex(32)),
    config: { mode: 'sandbox', dataDir, anvil: { persist: false }, pollingIntervalMs: 10 },
  });
  try {
    await svc.start();
    const eth = await svc.evm('ETH');
    const confirmations = networkInfo('ETH').confirmations;
    const mine = (n: number) =>
      eth.client.request({ method: 'anvil_mine' as any, params: [`0x${n.toString(16)}`] as any });
    await db.tx((q) =>
      ledger.transfer(q, {
        id: 'bench-fund',
        debit: platformAccount('sandbox_mint', 'ETH'),
        credit: { ownerType: 'user', ownerId: 'bench', asset: 'ETH' },
        amount: '1000',
        kind: 'bench',
      }),
    );

    // Platform: request → sign/record/broadcast → confirmations → completed (hold posted).
    const wdLat: number[] = [];
    let wdErrors = 0;
    let wdFirst: string | undefined;
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      const s = performance.now();
      const r = await svc.withdrawals.request({
        ref: `bench-${i}`,
        ownerType: 'user',
        ownerId: 'bench',
        asset: 'ETH',
        network: 'ETH',
        address: randomAddress(),
        amount: '0.01',
      });
      if (!r.ok) {
        wdErrors++;
        wdFirst ??= r.code;
        continue;
      }
      await svc.withdrawals.process(r.value.id);
      await mine(confirmations - 1);
      await svc.withdrawals.process(r.value.id);
      const w = await svc.withdrawals.get(r.value.id);
      if (w?.status === 'completed') wdLat.push(performance.now() - s);
      else {
        wdErrors++;
        wdFirst ??= `status ${w?.status}`;
      }
    }
    const wd = summarise(wdLat, performance.now() - t0, wdErrors, wdFirst);

    // Baseline: plain viem with a local account, same chain work.
    const sender = privateKeyToAccount(generatePrivateKey());
    await eth.client.request({
      method: 'anvil_setBalance' as any,
      params: [sender.address, `0x${parseEther('100').toString(16)}`] as any,
    });
    const wallet = createWalletClient({
      account: sender,
      chain: evmChain(eth.chainId, 'ETH', 'ETH', eth.rpcUrl),
      transport: http(eth.rpcUrl),
    });
    const baseLat: number[] = [];
    let baseErrors = 0;
    const t1 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      const s = performance.now();
      try {
        const hash = await wallet.sendTransaction({ to: randomAddress(), value: parseEther('0.01') });
        await eth.client.waitForTransactionReceipt({ hash, pollingInterval: 10 });
        await mine(confirmations - 1);
        baseLat.push(performance.now() - s);
      } catch {
        baseErrors++;
      }
    }
    const base = summarise(baseLat, performance.now() - t1, baseErrors);
    return [
      row(ctx, 'chain.viem-send-wait', `chain: plain viem send+wait (${COUNT})`, base),
      row(ctx, 'chain.withdrawal-confirmed', `chain: withdrawals confirmed (${COUNT})`, wd, 'chain.viem-send-wait'),
    ];
  } finally {
    await svc.stop();
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};
