import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { totpCode, totpStep } from '../../src/platform/totp.ts';
import type { TestApp } from '../helpers.ts';
import type { FormBrowser } from './form-browser.ts';

/** Operator console helpers shared by the console tests. */

/** A real PNG (solid colour), so a browser can show it and a test can check it decoded. */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3).map((_, i) => rgb[i % 3]!)]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export interface TestOperator {
  id: string;
  email: string;
  password: string;
  totpSecret: string;
  /** The authenticator's code for a 30-second step from now (0: the current one). */
  code(stepsAhead?: number): string;
}

export async function createOperator(t: TestApp, role: 'admin' | 'reviewer', email?: string): Promise<TestOperator> {
  const e = email ?? `${role}-${Date.now()}-${Math.random().toString(36).slice(2, 7)}@ops.example`;
  const r = await t.admin('POST', '/admin/v1/operators', { email: e, role });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return {
    id: r.json.operator.id,
    email: e,
    password: r.json.password,
    totpSecret: r.json.totpSecret,
    code: (stepsAhead = 0) => totpCode(r.json.totpSecret, totpStep(Date.now()) + stepsAhead),
  };
}

/** Logs `b` in to the console as `op` (with the authenticator's current code, or `code`). */
export async function consoleLogin(b: FormBrowser, op: TestOperator, code = op.code()) {
  return b.submit('/admin/login', '/admin/login', { email: op.email, password: op.password, code });
}

/** A buy-flow KYC submission waiting for review, with one document image. */
export async function kycRecordInReview(t: TestApp, image: Buffer, subject = `console-${Date.now()}-${Math.random()}`) {
  const r = await t.db.tx((q) =>
    t.app.services.kyc.submitBuyflow(q, subject, {
      country: 'FR',
      documentType: 'PASSPORT',
      basic: { firstName: 'Amélie', lastName: 'Durand', dob: '1990-04-12' },
      files: [{ field: 'frontFileUrl', contentType: 'image/png', bytes: image }],
    }),
  );
  assert.ok(r.ok, JSON.stringify(r));
  return r.value.recordId;
}
