import { isIP } from 'node:net';
import countries from 'i18n-iso-countries';
import { checkAnswers, type QuestionnaireTemplate } from './questionnaires.ts';

/**
 * share-kyc-data field rules (seed 003, kyc-sharing.md §2). Pure: no database, no clock of its own.
 * The first violation wins and is reported as "path: problem" in messageDetail (wire code 000002).
 */
export type SharingMode = 'STANDARD' | 'PARTIAL';
const DOCUMENT_TYPES = ['ID_CARD', 'PASSPORT', 'DRIVING_LICENSE', 'RESIDENCE_PERMIT'] as const;

interface UserInfo {
  bizEntityKey: string;
  entityCustomerId: string;
  brokerMainAccountId: string;
  brokerSubAccountId: string;
  notifyUrl: string;
  extra?: string;
}
export type Section = Record<string, string>;
/** basicInfo and identityInfo as validated (and stored, sealed, as this JSON). */
export type BasicInfo = Validated<typeof BASIC_INFO>;
export type IdentityInfo = Validated<typeof IDENTITY_INFO>;
interface TncInfo {
  userSubmitIp: string;
  tncVersion: string;
  consent: boolean;
  signTime: string;
}
interface QuestionnaireInfo {
  version: string;
  answers: { title: string; option: string }[];
}
export interface KycInfo {
  userInfo: UserInfo;
  basicInfo?: BasicInfo;
  identityInfo?: IdentityInfo;
  tncInfo?: TncInfo;
  questionnaireInfo?: QuestionnaireInfo;
}
interface ShareRequest {
  bizEntityKey: string;
  requestNo: string;
  kycInfo: KycInfo;
}

interface ValidationContext {
  sharingMode: SharingMode;
  questionnaireVersions: string[];
  templates: Map<string, QuestionnaireTemplate>;
  /** Sandbox also accepts http:// file URLs. */
  allowHttpFiles: boolean;
  now: number;
}

class Invalid extends Error {}
const fail = (path: string, problem: string): never => {
  throw new Invalid(`${path}: ${problem}`);
};

type Kind = 'text' | 'country' | 'date' | 'pastDate' | 'ip' | 'fileUrl' | 'docType';
interface Rule {
  req?: boolean;
  kind?: Kind;
  max?: number;
  re?: RegExp;
  reText?: string;
}

/** A real calendar date written yyyy-MM-dd. */
function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

const ISO_INSTANT = /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

function checkValue(path: string, v: string, rule: Rule, ctx: ValidationContext) {
  if (rule.max !== undefined && v.length > rule.max) fail(path, `must be at most ${rule.max} characters`);
  if (rule.re && !rule.re.test(v)) fail(path, `must match ${rule.reText ?? rule.re.source}`);
  switch (rule.kind) {
    case 'country':
      if (!/^[A-Z]{2}$/.test(v) || !countries.isValid(v))
        fail(path, 'must be an ISO 3166-1 alpha-2 country code in upper case');
      break;
    case 'date':
      if (!isCalendarDate(v)) fail(path, 'must be yyyy-MM-dd');
      break;
    case 'pastDate':
      if (!isCalendarDate(v)) fail(path, 'must be yyyy-MM-dd');
      if (Date.parse(`${v}T00:00:00Z`) >= ctx.now) fail(path, 'must be in the past');
      break;
    case 'ip':
      if (isIP(v) === 0) fail(path, 'must be an IPv4 or IPv6 address');
      break;
    case 'fileUrl': {
      let u: URL | null = null;
      try {
        u = new URL(v);
      } catch {
        fail(path, 'must be a URL');
      }
      const okScheme = u!.protocol === 'https:' || (ctx.allowHttpFiles && u!.protocol === 'http:');
      if (!okScheme) fail(path, ctx.allowHttpFiles ? 'must be an http(s):// URL' : 'must be an https:// URL');
      break;
    }
    case 'docType':
      if (!(DOCUMENT_TYPES as readonly string[]).includes(v)) fail(path, `must be one of ${DOCUMENT_TYPES.join(', ')}`);
      break;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Strings only; null or absent optional fields (and empty optional strings) are left out of the result. */
/** A validated section: the fields its rules require, and the optional ones the request sent. */
type Validated<R extends Record<string, Rule>> = {
  [K in keyof R as R[K] extends { req: true } ? K : never]: string;
} & { [K in keyof R as R[K] extends { req: true } ? never : K]?: string };

function section<R extends Record<string, Rule>>(
  path: string,
  raw: unknown,
  rules: R,
  ctx: ValidationContext,
): Validated<R> {
  if (!isObject(raw)) fail(path, 'must be an object');
  const obj = raw as Record<string, unknown>;
  const out: Section = {};
  for (const [name, rule] of Object.entries(rules)) {
    const v = obj[name];
    const p = `${path}.${name}`;
    if (v === undefined || v === null || v === '') {
      if (rule.req) fail(p, 'is required');
      continue;
    }
    if (typeof v !== 'string') fail(p, 'must be a string');
    checkValue(p, v as string, rule, ctx);
    out[name] = v as string;
  }
  // Every required field was checked present above (fail() throws otherwise).
  return out as Validated<R>;
}

const NAME = { req: true, max: 128 } as const satisfies Rule;
const OPT256 = { max: 256 } as const satisfies Rule;

const USER_INFO = {
  bizEntityKey: { req: true, max: 128 },
  entityCustomerId: { req: true, max: 128, re: /^[A-Za-z0-9+\-_@]+$/ },
  brokerMainAccountId: { req: true },
  brokerSubAccountId: { req: true },
  notifyUrl: { req: true, max: 512 },
  extra: { max: 2048 },
} as const satisfies Record<string, Rule>;
const BASIC_INFO = {
  firstName: NAME,
  middleName: { max: 128 },
  lastName: NAME,
  residentialCountry: { req: true, kind: 'country' },
  dob: { req: true, kind: 'pastDate' },
  country: { req: true, kind: 'country' },
  userSubmitIp: { req: true, kind: 'ip' },
  address: { req: true, max: 400 },
  city: { req: true, max: 100 },
  postalCode: { max: 50 },
} as const satisfies Record<string, Rule>;
const IDENTITY_INFO = {
  documentType: { req: true, kind: 'docType' },
  selectCountry: { req: true, kind: 'country' },
  frontFileUrl: { req: true, kind: 'fileUrl', max: 2048 },
  backFileUrl: { kind: 'fileUrl', max: 2048 },
  faceFileUrl: { req: true, kind: 'fileUrl', max: 2048 },
  firstName: NAME,
  middleName: { max: 128 },
  lastName: NAME,
  dob: { req: true, kind: 'pastDate' },
  idType: { req: true, kind: 'docType' },
  idSubType: OPT256,
  idCountry: { req: true, kind: 'country' },
  nationalityCountry: { req: true, kind: 'country' },
  idNumber: { req: true, max: 64 },
  idExpiry: { kind: 'date' },
  userSubmitIp: { req: true, kind: 'ip' },
  idUsState: OPT256,
  personalNumber: OPT256,
  gender: OPT256,
  issuingAuthority: OPT256,
  issuingPlace: OPT256,
  registrationNumber: OPT256,
  city: OPT256,
  stateCode: OPT256,
  postalCode: OPT256,
  address: OPT256,
  issuingDate: { kind: 'date' },
} as const satisfies Record<string, Rule>;

function userInfo(raw: unknown, topKey: string, ctx: ValidationContext): UserInfo {
  const s = section('kycInfo.userInfo', raw, USER_INFO, ctx);
  if (s.bizEntityKey !== topKey) fail('kycInfo.userInfo.bizEntityKey', 'must equal bizEntityKey');
  const accountId = ctx.sharingMode === 'PARTIAL' ? /^([0-9]{1,32}|[A-Za-z0-9_-]{1,64})$/ : /^[0-9]{1,32}$/;
  for (const f of ['brokerMainAccountId', 'brokerSubAccountId'] as const) {
    if (!accountId.test(s[f]))
      fail(
        `kycInfo.userInfo.${f}`,
        ctx.sharingMode === 'PARTIAL' ? 'must be 1-64 letters, digits, _ or -' : 'must be 1-32 digits',
      );
  }
  if (s.notifyUrl !== '.') {
    let ok = false;
    try {
      const u = new URL(s.notifyUrl);
      ok = u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      ok = false;
    }
    if (!ok) fail('kycInfo.userInfo.notifyUrl', 'must be an http(s):// URL or "."');
  }
  return s as unknown as UserInfo;
}

function tncInfo(raw: unknown, ctx: ValidationContext): TncInfo {
  const p = 'kycInfo.tncInfo';
  if (!isObject(raw)) fail(p, 'must be an object');
  const o = raw as Record<string, unknown>;
  const s = section(
    p,
    { userSubmitIp: o.userSubmitIp, tncVersion: o.tncVersion, signTime: o.signTime },
    {
      userSubmitIp: { req: true, kind: 'ip' },
      tncVersion: { req: true, max: 32, re: /^\d+\.\d+$/, reText: '^\\d+\\.\\d+$' },
      signTime: { req: true, max: 40 },
    },
    ctx,
  );
  if (o.consent === undefined || o.consent === null) fail(`${p}.consent`, 'must not be null');
  if (typeof o.consent !== 'boolean') fail(`${p}.consent`, 'must be a boolean');
  const m = ISO_INSTANT.exec(s.signTime);
  if (!m || !isCalendarDate(m[1]!))
    fail(`${p}.signTime`, 'must be an ISO-8601 date-time with a zone, e.g. 2024-01-01T12:00:00Z');
  if (Date.parse(s.signTime) > ctx.now + 5 * 60_000) fail(`${p}.signTime`, 'must not be in the future');
  return {
    userSubmitIp: s.userSubmitIp,
    tncVersion: s.tncVersion,
    consent: o.consent as boolean,
    signTime: s.signTime,
  };
}

function questionnaireInfo(raw: unknown, ctx: ValidationContext): QuestionnaireInfo {
  const p = 'kycInfo.questionnaireInfo';
  if (!isObject(raw)) fail(p, 'must be an object');
  const o = raw as Record<string, unknown>;
  if (typeof o.version !== 'string' || o.version === '')
    fail(`${p}.version`, o.version == null ? 'is required' : 'must be a string');
  const version = o.version as string;
  const template = ctx.templates.get(version);
  if (!template || !ctx.questionnaireVersions.includes(version))
    fail(`${p}.version`, `${version} is not a questionnaire version configured for this broker`);
  if (!Array.isArray(o.answers) || o.answers.length === 0) fail(`${p}.answers`, 'must be a non-empty list');
  const answers = (o.answers as unknown[]).map((a, i) => {
    const s = section(
      `${p}.answers[${i}]`,
      a,
      { title: { req: true, max: 128 }, option: { req: true, max: 128 } },
      ctx,
    );
    return { title: s.title, option: s.option };
  });
  const problem = checkAnswers(template!, answers);
  if (problem) throw new Invalid(problem);
  return { version, answers };
}

/**
 * Validates a parsed share-kyc-data body for a broker. `kycInfo` may be the object itself or a string holding its JSON.
 * Sections a STANDARD broker may not send (tncInfo, questionnaireInfo) are dropped, not stored.
 */
export function validateShare(
  body: Record<string, unknown>,
  ctx: ValidationContext,
): { ok: true; value: ShareRequest } | { ok: false; detail: string } {
  try {
    const top = section(
      '',
      { bizEntityKey: body.bizEntityKey, requestNo: body.requestNo },
      { bizEntityKey: { req: true, max: 128 }, requestNo: { req: true, max: 120 } },
      ctx,
    );
    let ki = body.kycInfo;
    if (typeof ki === 'string') {
      try {
        ki = JSON.parse(ki);
      } catch {
        fail('kycInfo', 'must be a JSON object');
      }
    }
    if (ki === undefined || ki === null) fail('kycInfo', 'is required');
    if (!isObject(ki)) fail('kycInfo', 'must be a JSON object');
    const k = ki as Record<string, unknown>;
    if (k.userInfo === undefined || k.userInfo === null) fail('kycInfo.userInfo', 'is required');
    const info: KycInfo = { userInfo: userInfo(k.userInfo, top.bizEntityKey, ctx) };
    const present = (v: unknown) => v !== undefined && v !== null;
    if (ctx.sharingMode === 'STANDARD') {
      if (!present(k.basicInfo)) fail('kycInfo.basicInfo', 'is required');
      if (!present(k.identityInfo)) fail('kycInfo.identityInfo', 'is required');
    } else if (![k.basicInfo, k.identityInfo, k.tncInfo, k.questionnaireInfo].some(present)) {
      fail('kycInfo', 'at least one of basicInfo, identityInfo, tncInfo, questionnaireInfo is required');
    }
    if (present(k.basicInfo)) info.basicInfo = section('kycInfo.basicInfo', k.basicInfo, BASIC_INFO, ctx);
    if (present(k.identityInfo)) {
      const id = section('kycInfo.identityInfo', k.identityInfo, IDENTITY_INFO, ctx);
      info.identityInfo = id;
    }
    if (ctx.sharingMode === 'PARTIAL') {
      if (present(k.tncInfo)) info.tncInfo = tncInfo(k.tncInfo, ctx);
      if (present(k.questionnaireInfo)) info.questionnaireInfo = questionnaireInfo(k.questionnaireInfo, ctx);
    }
    return { ok: true, value: { bizEntityKey: top.bizEntityKey, requestNo: top.requestNo, kycInfo: info } };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, detail: e.message.replace(/^\./, '') };
    throw e;
  }
}

/** Names compared after trimming, collapsing inner whitespace, NFKC and case folding (§2 Processing). */
export function sameName(a: string, b: string): boolean {
  const norm = (s: string) => s.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
  return norm(a) === norm(b);
}

/** Whole years between a yyyy-MM-dd birth date and an instant. */
export function ageAt(dob: string, now: number): number {
  // A part missing from a malformed date is NaN, which every comparison below treats as false.
  const [y = NaN, m = NaN, d = NaN] = dob.split('-').map(Number);
  const n = new Date(now);
  let age = n.getUTCFullYear() - y;
  if (n.getUTCMonth() + 1 < m || (n.getUTCMonth() + 1 === m && n.getUTCDate() < d)) age--;
  return age;
}
