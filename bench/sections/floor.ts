import { isPaySuccess, runLoad, signedPayRequest } from '../lib/load.ts';
import { createOrderV3Body } from '../lib/pay.ts';
import { startTarget, targetInfo } from '../lib/spawn.ts';
import { row, type Section } from '../lib/types.ts';
import { FLOOR_PATH } from '../targets/floor.ts';

export const FLOOR_ID = 'floor';

/** The floor: a signed no-op doing one plain INSERT on the same stack, sent the create-order body. */
export const floor: Section = async (ctx) => {
  const t = await startTarget('floor', ctx.kind);
  try {
    const { baseUrl } = t.info;
    const apiKey = targetInfo(t, 'apiKey');
    const apiSecret = targetInfo(t, 'apiSecret');
    const r = await runLoad(
      baseUrl,
      { ...ctx.load, serverPid: t.pid },
      () => signedPayRequest(FLOOR_PATH, apiKey, apiSecret, createOrderV3Body()),
      isPaySuccess,
    );
    return [row(ctx, FLOOR_ID, 'floor: signed no-op + 1 INSERT', r)];
  } finally {
    await t.stop();
  }
};
