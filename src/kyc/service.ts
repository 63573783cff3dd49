import type { Clock } from '../platform/clock.ts';
import { hmacSha256Hex, randomAlnum, randomString, sha256Hex, type SecretBox } from '../platform/crypto.ts';
import { onlyRow, type Db, type Queryable } from '../platform/db/client.ts';
import { DomainError, catchDomain, err, ok, type Result } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import { isValidIpOrCidr } from '../platform/ip.ts';
import type { Outbox, OutboxHandler } from '../platform/outbox/service.ts';
import { FILE_TOO_LARGE, type KycErrorCode } from './codes.ts';
import { DEFAULT_FETCH_LIMITS, fetchFile, type FetchLimits } from './files.ts';
import { enqueueUserStatus } from './notify.ts';
import type { QuestionnaireTemplate } from './questionnaires.ts';
import {
  ageAt,
  sameName,
  validateShare,
  type BasicInfo,
  type IdentityInfo,
  type KycInfo,
  type Section,
  type SharingMode,
} from './validation.ts';

/**
 * KYC records, the broker sharing use cases and the operator review queue.
 * A KYC record has four checks (basic, identity, face, wck) and an overall status derived from them (§5).
 * Records carry a `source`: 'broker' for KYC Sharing, 'buyflow' for the Connect buy flow's own KYC, so both
 * feed one review queue.
 */
type CheckStatus = 'INITIAL' | 'PROCESS' | 'REVIEW' | 'PASS' | 'REJECT' | 'SKIP';
export const SHARE_TOPIC = 'kyc-share';
const CHECK_TOPIC = 'kyc-check';
const DAY = 86_400_000;

export interface Broker {
  bizEntityKey: string;
  name: string;
  secret: string;
  sharingMode: SharingMode;
  ipWhitelist: string[];
  mainAccountIds: string[];
  questionnaireVersions: string[];
  maxSubAccountsPerUser: number;
  connectPartnerCode: string | null;
  status: 'ACTIVE' | 'DISABLED';
}

interface KycRecordRow {
  id: bigint;
  source: string;
  biz_entity_key: string | null;
  entity_customer_id: string | null;
  notify_url: string | null;
  kyc_status: CheckStatus;
  fail_reason: string | null;
  basic_status: CheckStatus;
  basic_fail_reason: string | null;
  identity_status: CheckStatus;
  identity_fail_reason: string | null;
  face_status: CheckStatus;
  face_fail_reason: string | null;
  wck_status: CheckStatus;
  risk_rate_level: string;
  basic_sealed: string | null;
  identity_sealed: string | null;
  tnc_sealed: string | null;
  questionnaire_sealed: string | null;
  id_fingerprint: string | null;
  identity_complete_time: bigint | null;
  face_complete_time: bigint | null;
  version: number;
  created_at: bigint;
  updated_at: bigint;
}

type Checks = Pick<
  KycRecordRow,
  | 'basic_status'
  | 'basic_fail_reason'
  | 'identity_status'
  | 'identity_fail_reason'
  | 'face_status'
  | 'face_fail_reason'
  | 'wck_status'
  | 'identity_complete_time'
  | 'face_complete_time'
>;

const isFinal = (s: string) => s === 'PASS' || s === 'REJECT';

/** Overall kycStatus (§5): the first rule that applies. */
function overallStatus(r: Checks & { tnc_consent: boolean; questionnaire: boolean; partial: boolean }): {
  status: CheckStatus;
  failReason: string | null;
} {
  const checks: [CheckStatus, string | null][] = [
    [r.basic_status, r.basic_fail_reason],
    [r.identity_status, r.identity_fail_reason],
    [r.face_status, r.face_fail_reason],
    [r.wck_status, null],
  ];
  const rejected = checks.find(([s]) => s === 'REJECT');
  if (rejected) return { status: 'REJECT', failReason: rejected[1] ?? 'Rejected' };
  const passed =
    r.basic_status === 'PASS' &&
    r.identity_status === 'PASS' &&
    r.wck_status === 'PASS' &&
    (r.face_status === 'PASS' || r.face_status === 'SKIP') &&
    (!r.partial || (r.tnc_consent && r.questionnaire));
  if (passed) return { status: 'PASS', failReason: null };
  if (checks.some(([s]) => s === 'REVIEW')) return { status: 'REVIEW', failReason: null };
  if (checks.some(([s]) => s === 'PROCESS')) return { status: 'PROCESS', failReason: null };
  return { status: 'INITIAL', failReason: null };
}

/**
 * identityInfo's first and last name must equal basicInfo's. A section sent alone is compared with the stored
 * other one; with neither stored, the check waits until the other section arrives.
 */
function nameProblem(info: KycInfo, stored: { basic?: BasicInfo; identity?: IdentityInfo }): string | null {
  if (!info.basicInfo && !info.identityInfo) return null;
  const basic = info.basicInfo ?? stored.basic;
  const identity = info.identityInfo ?? stored.identity;
  if (!basic || !identity) return null;
  for (const f of ['firstName', 'lastName'] as const) {
    if (!sameName(identity[f], basic[f])) return `identityInfo.${f} does not match basicInfo.${f}`;
  }
  return null;
}

const dayText = (ms: number) => `${new Date(ms).toISOString().slice(0, 10)} (UTC)`;
const num = (v: bigint | null) => (v === null ? null : Number(v));

/** KycVerifyStatusInfoVo and levelInfo of a record (§4). */
export function statusVo(r: KycRecordRow) {
  const updated = Number(r.updated_at);
  const expect = isFinal(r.kyc_status) ? null : updated + DAY;
  const basicExpect = isFinal(r.basic_status) ? null : updated + DAY;
  const statusInfo = {
    bizEntityKey: r.biz_entity_key,
    entityCustomerId: r.entity_customer_id,
    kycUserId: String(r.id),
    userType: 'USER',
    kycType: 'USER',
    businessType: 'KYC_SHARING',
    status: r.kyc_status,
    kycStatus: r.kyc_status,
    failReason: r.kyc_status === 'REJECT' ? r.fail_reason : null,
    expectTime: expect,
    expectTimeText: expect === null ? null : dayText(expect),
    basicStatus: r.basic_status,
    basicFailReason: r.basic_fail_reason ?? '',
    basicExpectTime: basicExpect,
    basicExpectTimeText: basicExpect === null ? null : dayText(basicExpect),
    basicSubStatus: null,
    documentStatus: r.identity_status,
    documentFailReason: r.identity_fail_reason ?? '',
    identityStatus: r.identity_status,
    identityFailReason: r.identity_fail_reason ?? '',
    faceStatus: r.face_status,
    faceFailReason: r.face_fail_reason ?? '',
    wckStatus: r.wck_status,
    dbCreateTime: Number(r.created_at),
    dbModifyTime: updated,
    identityCompleteTime: num(r.identity_complete_time),
    faceCompleteTime: num(r.face_complete_time),
    riskRateLevel: r.risk_rate_level,
  };
  const current = { levelName: 'INTERMEDIATE', kycStatus: r.kyc_status };
  return {
    statusInfo,
    levelInfo: {
      currentLevel: current,
      passedLevel: r.kyc_status === 'PASS' ? current : null,
      kycPass: r.kyc_status === 'PASS',
    },
  };
}

/** What a USER-STATUS event reports on: any status, fail reason or level (times excluded). */
const changeKey = (
  r: Pick<
    KycRecordRow,
    | 'kyc_status'
    | 'fail_reason'
    | 'basic_status'
    | 'basic_fail_reason'
    | 'identity_status'
    | 'identity_fail_reason'
    | 'face_status'
    | 'face_fail_reason'
    | 'wck_status'
  >,
) =>
  JSON.stringify([
    r.kyc_status,
    r.fail_reason,
    r.basic_status,
    r.basic_fail_reason,
    r.identity_status,
    r.identity_fail_reason,
    r.face_status,
    r.face_fail_reason,
    r.wck_status,
  ]);

interface BrokerRow {
  biz_entity_key: string;
  name: string;
  secret_sealed: string;
  sharing_mode: SharingMode;
  ip_whitelist: string[];
  main_account_ids: string[];
  questionnaire_versions: string[];
  max_sub_accounts_per_user: number;
  connect_partner_code: string | null;
  status: 'ACTIVE' | 'DISABLED';
  created_at: bigint;
}

interface BrokerInput {
  name: string;
  partialSharing: boolean;
  ipWhitelist?: string[];
  mainAccountIds?: string[];
  questionnaireVersions?: string[];
  maxSubAccountsPerUser?: number;
  connectPartnerCode?: string | null;
}
type BrokerPatch = Partial<Omit<BrokerInput, 'name'>> & { enabled?: boolean };

interface ShareStatus {
  bizEntityKey: string;
  entityCustomerId: string;
  requestNo: string;
  status: 'INIT' | 'SUCCESS' | 'FAIL';
  failMessage: string | null;
}

export function createKycService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  box: SecretBox;
  outbox: Outbox;
  templates: Map<string, QuestionnaireTemplate>;
  /** Keys the ID-number fingerprint, so duplicates are found without storing the number in clear. */
  fingerprintKey: string;
  mode: 'sandbox' | 'production';
  /**
   * Sandbox only: whether document images may come from loopback and private addresses
   * (SANDBOX_ALLOW_PRIVATE_TARGETS); unset: sandbox yes.
   */
  allowPrivateTargets?: boolean;
  fetchLimits?: Partial<FetchLimits>;
}) {
  const { db, clock, ids, box, outbox } = deps;
  const limits: FetchLimits = {
    ...DEFAULT_FETCH_LIMITS,
    blockPrivate: deps.mode === 'production' || deps.allowPrivateTargets === false,
    ...deps.fetchLimits,
  };

  const toBroker = (r: BrokerRow): Broker => ({
    bizEntityKey: r.biz_entity_key,
    name: r.name,
    secret: box.open(r.secret_sealed),
    sharingMode: r.sharing_mode,
    ipWhitelist: r.ip_whitelist,
    mainAccountIds: r.main_account_ids,
    questionnaireVersions: r.questionnaire_versions,
    maxSubAccountsPerUser: r.max_sub_accounts_per_user,
    connectPartnerCode: r.connect_partner_code,
    status: r.status,
  });
  const publicBroker = (b: Broker) => {
    const { secret: _s, ...rest } = b;
    return rest;
  };

  function checkBrokerInput(i: Partial<BrokerInput>): Result<null> {
    for (const ip of i.ipWhitelist ?? [])
      if (!isValidIpOrCidr(ip)) return err('INVALID_IP_WHITELIST', `not an IP address or CIDR range: ${ip}`);
    for (const v of i.questionnaireVersions ?? [])
      if (!deps.templates.has(v)) return err('UNKNOWN_QUESTIONNAIRE', `no questionnaire template ${v}`);
    for (const a of i.mainAccountIds ?? [])
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(a)) return err('INVALID_MAIN_ACCOUNT', `bad main account id ${a}`);
    return ok(null);
  }

  async function getBroker(key: string): Promise<Broker | null> {
    const r = (await db.query<BrokerRow>(`SELECT * FROM kyc_brokers WHERE biz_entity_key = $1`, [key])).rows[0];
    return r ? toBroker(r) : null;
  }

  async function lockRecord(q: Queryable, source: string, subject: string): Promise<KycRecordRow | null> {
    return (
      (
        await q.query<KycRecordRow>(`SELECT * FROM kyc_records WHERE source = $1 AND subject_key = $2 FOR UPDATE`, [
          source,
          subject,
        ])
      ).rows[0] ?? null
    );
  }

  /**
   * Writes a record's new state conditional on the version read, recomputes the overall status, and queues a
   * USER-STATUS event if anything reported changed.
   */
  /**
   * Creates or reopens a buy-flow record with every check in REVIEW (or SKIP for the face check) and seals its
   * documents.
   */
  async function submitBuyflowRecord(
    q: Queryable,
    subject: string,
    input: {
      basic: Record<string, string>;
      identity: Record<string, string>;
      faceStatus: 'REVIEW' | 'SKIP';
      files: { field: string; contentType: string; bytes: Buffer }[];
    },
  ): Promise<Result<{ recordId: string }, 'KYC_ALREADY_PASSED' | 'KYC_IN_REVIEW'>> {
    const now = clock.now();
    let rec = await lockRecord(q, 'buyflow', subject);
    if (rec?.kyc_status === 'PASS') return err('KYC_ALREADY_PASSED');
    if (rec?.kyc_status === 'REVIEW') return err('KYC_IN_REVIEW');
    if (!rec) {
      rec = onlyRow(
        await q.query<KycRecordRow>(
          `INSERT INTO kyc_records (id, source, subject_key, kyc_status, basic_status, identity_status, face_status,
            wck_status, created_at, updated_at)
         VALUES ($1, 'buyflow', $2, 'INITIAL', 'INITIAL', 'INITIAL', $4, 'INITIAL', $3, $3) RETURNING *`,
          [ids.next(), subject, now, input.faceStatus === 'SKIP' ? 'SKIP' : 'INITIAL'],
        ),
      );
    }
    const next: KycRecordRow = {
      ...rec,
      basic_sealed: box.seal(JSON.stringify(input.basic)),
      identity_sealed: box.seal(JSON.stringify(input.identity)),
      basic_status: 'REVIEW',
      basic_fail_reason: null,
      identity_status: 'REVIEW',
      identity_fail_reason: null,
      face_status: input.faceStatus,
      face_fail_reason: null,
      wck_status: 'REVIEW',
      identity_complete_time: null,
      face_complete_time: null,
    };
    for (const f of input.files) {
      await q.query(
        `INSERT INTO kyc_files (id, record_id, share_id, field, content_type, size_bytes, data_sealed, created_at)
          VALUES ($1, $2, NULL, $3, $4, $5, $6, $7)`,
        [ids.next(), rec.id, f.field, f.contentType, f.bytes.length, box.seal(f.bytes), now],
      );
    }
    const saved = await saveRecord(q, rec, next, false);
    return ok({ recordId: String(saved.id) });
  }

  async function saveRecord(
    q: Queryable,
    before: KycRecordRow,
    next: KycRecordRow,
    partial: boolean,
    note: string | null = null,
  ): Promise<KycRecordRow> {
    const overall = overallStatus({
      ...next,
      partial,
      tnc_consent: next.tnc_sealed
        ? (JSON.parse(box.open(next.tnc_sealed)) as { consent: boolean }).consent === true
        : false,
      questionnaire: next.questionnaire_sealed !== null,
    });
    next.kyc_status = overall.status;
    next.fail_reason = overall.failReason;
    next.updated_at = BigInt(clock.now());
    const r = await q.query<KycRecordRow>(
      `UPDATE kyc_records SET notify_url = $3, kyc_status = $4, fail_reason = $5, basic_status = $6,
        basic_fail_reason = $7,
         identity_status = $8, identity_fail_reason = $9, face_status = $10, face_fail_reason = $11, wck_status = $12,
         basic_sealed = $13, identity_sealed = $14, tnc_sealed = $15, questionnaire_sealed = $16, id_fingerprint = $17,
         identity_complete_time = $18, face_complete_time = $19, updated_at = $20, version = version + 1
       WHERE id = $1 AND version = $2 RETURNING *`,
      [
        next.id,
        before.version,
        next.notify_url,
        next.kyc_status,
        next.fail_reason,
        next.basic_status,
        next.basic_fail_reason,
        next.identity_status,
        next.identity_fail_reason,
        next.face_status,
        next.face_fail_reason,
        next.wck_status,
        next.basic_sealed,
        next.identity_sealed,
        next.tnc_sealed,
        next.questionnaire_sealed,
        next.id_fingerprint,
        next.identity_complete_time,
        next.face_complete_time,
        next.updated_at,
      ],
    );
    if (r.rowCount === 0) throw new DomainError('CONCURRENT_UPDATE');
    const saved = onlyRow(r);
    // The reviewer reads the record's story from these rows: every saved change, with the decision that made it.
    await q.query(
      `INSERT INTO kyc_record_history (record_id, version, at, kyc_status, checks, fail_reason, note)
        VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        saved.id,
        saved.version,
        saved.updated_at,
        saved.kyc_status,
        `basic=${saved.basic_status} identity=${saved.identity_status} face=${saved.face_status} wck=${saved.wck_status}`,
        saved.fail_reason,
        note,
      ],
    );
    if (changeKey(before) !== changeKey(saved) && saved.biz_entity_key && saved.entity_customer_id) {
      await enqueueUserStatus(outbox, q, {
        notifyUrl: saved.notify_url,
        recordId: String(saved.id),
        bizEntityKey: saved.biz_entity_key,
        entityCustomerId: saved.entity_customer_id,
        kycStatus: saved.kyc_status,
        eventVo: statusVo(saved),
      });
    }
    return saved;
  }

  async function brokerIsPartial(q: Queryable, key: string | null): Promise<boolean> {
    if (!key) return false;
    return (
      (await q.query(`SELECT sharing_mode FROM kyc_brokers WHERE biz_entity_key = $1`, [key])).rows[0]?.sharing_mode ===
      'PARTIAL'
    );
  }

  // ---- share processing (outbox topic kyc-share) ----

  async function failShare(shareId: bigint, message: string) {
    await db.query(
      `UPDATE kyc_shares SET status = 'FAIL', fail_message = $2, completed_at = $3 WHERE id = $1 AND status = 'INIT'`,
      [shareId, message, clock.now()],
    );
  }

  async function processShare(shareId: bigint): Promise<void> {
    const share = (await db.query(`SELECT * FROM kyc_shares WHERE id = $1`, [shareId])).rows[0];
    if (!share || share.status !== 'INIT') return;
    const broker = await getBroker(share.biz_entity_key);
    if (!broker) return failShare(shareId, 'broker no longer exists');
    const info = JSON.parse(box.open(share.payload_sealed)) as KycInfo;
    const subject = `${broker.bizEntityKey}:${info.userInfo.entityCustomerId}`;
    const sectionsOf = (rec: KycRecordRow | null | undefined) => ({
      basic: rec?.basic_sealed ? (JSON.parse(box.open(rec.basic_sealed)) as BasicInfo) : undefined,
      identity: rec?.identity_sealed ? (JSON.parse(box.open(rec.identity_sealed)) as IdentityInfo) : undefined,
    });
    // Checked before downloading anything (cheap), and again under the row lock below.
    const current = (
      await db.query<KycRecordRow>(`SELECT * FROM kyc_records WHERE source = 'broker' AND subject_key = $1`, [subject])
    ).rows[0];
    const early = nameProblem(info, sectionsOf(current));
    if (early) return failShare(shareId, early);

    // Slow network work happens outside any transaction.
    const files: { field: string; contentType: string; bytes: Buffer }[] = [];
    if (info.identityInfo) {
      for (const field of ['frontFileUrl', 'backFileUrl', 'faceFileUrl'] as const) {
        const url = info.identityInfo[field];
        if (!url) continue;
        const f = await fetchFile(url, limits);
        if (!f.ok) {
          if (f.reason === 'TOO_LARGE') return failShare(shareId, `${FILE_TOO_LARGE}: ${field}`);
          if (f.reason === 'UNSUPPORTED_TYPE') return failShare(shareId, `file is not a JPEG, PNG or PDF: ${field}`);
          return failShare(shareId, `file download failed: ${field} (${f.detail})`);
        }
        files.push({ field, contentType: f.contentType, bytes: f.bytes });
      }
    }

    await db.tx(async (q) => {
      const now = clock.now();
      let rec = await lockRecord(q, 'broker', subject);
      const problem = nameProblem(info, sectionsOf(rec));
      if (problem) {
        await q.query(
          `UPDATE kyc_shares SET status = 'FAIL', fail_message = $2, completed_at = $3 WHERE id = $1
            AND status = 'INIT'`,
          [shareId, problem, now],
        );
        return;
      }
      const done = await q.query(
        `UPDATE kyc_shares SET status = 'SUCCESS', completed_at = $2 WHERE id = $1 AND status = 'INIT'`,
        [shareId, now],
      );
      if (done.rowCount === 0) return;

      if (!rec) {
        rec = onlyRow(
          await q.query<KycRecordRow>(
            `INSERT INTO kyc_records (id, source, subject_key, biz_entity_key, entity_customer_id, notify_url,
              kyc_status, basic_status, identity_status, face_status, wck_status, created_at, updated_at)
           VALUES ($1, 'broker', $2, $3, $4, $5, 'INITIAL', 'INITIAL', 'INITIAL', 'INITIAL', 'INITIAL', $6, $6)
           RETURNING *`,
            [ids.next(), subject, broker.bizEntityKey, info.userInfo.entityCustomerId, info.userInfo.notifyUrl, now],
          ),
        );
      }
      // PASS is sticky: a later share is kept (kyc_shares) for audit but does not change a passed record.
      if (rec.kyc_status === 'PASS') return;
      const next: KycRecordRow = { ...rec, notify_url: info.userInfo.notifyUrl };
      if (info.basicInfo) {
        next.basic_sealed = box.seal(JSON.stringify(info.basicInfo));
        next.basic_status = 'PROCESS';
        next.basic_fail_reason = null;
      }
      if (info.identityInfo) {
        const id = info.identityInfo;
        next.identity_sealed = box.seal(JSON.stringify(id));
        next.id_fingerprint = hmacSha256Hex(
          deps.fingerprintKey,
          `${id.idCountry}|${id.idType}|${id.idNumber.trim().toUpperCase()}`,
        );
        next.identity_status = 'PROCESS';
        next.identity_fail_reason = null;
        next.face_status = 'PROCESS';
        next.face_fail_reason = null;
        next.identity_complete_time = null;
        next.face_complete_time = null;
        for (const f of files) {
          await q.query(
            `INSERT INTO kyc_files (id, record_id, share_id, field, content_type, size_bytes, data_sealed, created_at)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [ids.next(), rec.id, shareId, f.field, f.contentType, f.bytes.length, box.seal(f.bytes), now],
          );
        }
      }
      if ((info.basicInfo || info.identityInfo) && next.wck_status !== 'PASS') next.wck_status = 'PROCESS';
      if (info.tncInfo) next.tnc_sealed = box.seal(JSON.stringify(info.tncInfo));
      if (info.questionnaireInfo) next.questionnaire_sealed = box.seal(JSON.stringify(info.questionnaireInfo));
      const saved = await saveRecord(q, rec, next, broker.sharingMode === 'PARTIAL');
      if ([saved.basic_status, saved.identity_status, saved.face_status, saved.wck_status].includes('PROCESS')) {
        await outbox.enqueue(q, {
          topic: CHECK_TOPIC,
          orderingKey: `kyc:${subject}`,
          payload: { recordId: String(saved.id) },
        });
      }
    });
  }

  // ---- automated checks (outbox topic kyc-check): PROCESS → PASS | REJECT | REVIEW ----

  async function runChecks(recordId: string): Promise<void> {
    await db.tx(async (q) => {
      const rec = (await q.query<KycRecordRow>(`SELECT * FROM kyc_records WHERE id = $1 FOR UPDATE`, [recordId]))
        .rows[0];
      if (!rec) return;
      const now = clock.now();
      const next: KycRecordRow = { ...rec };
      if (rec.basic_status === 'PROCESS') {
        const basic = JSON.parse(box.open(rec.basic_sealed!)) as BasicInfo;
        if (ageAt(basic.dob, now) < 18) Object.assign(next, { basic_status: 'REJECT', basic_fail_reason: 'Under age' });
        else Object.assign(next, { basic_status: 'PASS', basic_fail_reason: null });
      }
      if (rec.identity_status === 'PROCESS') {
        const id = JSON.parse(box.open(rec.identity_sealed!)) as IdentityInfo;
        let reason: string | null = null;
        if (id.idExpiry && Date.parse(`${id.idExpiry}T23:59:59.999Z`) < now) reason = 'Document expired';
        else if (ageAt(id.dob, now) < 18) reason = 'Under age';
        else {
          const dup = await q.query(`SELECT 1 FROM kyc_records WHERE id_fingerprint = $1 AND id <> $2 LIMIT 1`, [
            rec.id_fingerprint,
            rec.id,
          ]);
          if (dup.rows.length > 0) reason = 'This ID number has been used by another account';
        }
        if (reason) {
          Object.assign(next, {
            identity_status: 'REJECT',
            identity_fail_reason: reason,
            identity_complete_time: BigInt(now),
          });
          if (rec.face_status === 'PROCESS')
            Object.assign(next, { face_status: 'REJECT', face_fail_reason: reason, face_complete_time: BigInt(now) });
        } else {
          // Document and face are checked by a person: Rampart has no document-forensics or liveness engine.
          next.identity_status = 'REVIEW';
          if (rec.face_status === 'PROCESS') next.face_status = 'REVIEW';
        }
      } else if (rec.face_status === 'PROCESS') next.face_status = 'REVIEW';
      // Without a screening provider, watch-list screening is part of the manual review.
      if (rec.wck_status === 'PROCESS') next.wck_status = 'REVIEW';
      await saveRecord(q, rec, next, await brokerIsPartial(q, rec.biz_entity_key));
    });
  }

  const outboxHandlers: Record<string, OutboxHandler> = {
    [SHARE_TOPIC]: async (row) => {
      await processShare(BigInt((row.payload as { shareId: string }).shareId));
      return { status: 'done' };
    },
    [CHECK_TOPIC]: async (row) => {
      const r = await catchDomain(() => runChecks(String((row.payload as { recordId: string }).recordId)));
      if (!r.ok) return { status: 'retry', at: clock.now() + 1_000, error: r.code };
      return { status: 'done' };
    },
  };

  return {
    outboxHandlers,
    getBroker,

    async createBroker(
      input: BrokerInput,
    ): Promise<Result<{ bizEntityKey: string; secret: string; broker: Omit<Broker, 'secret'> }>> {
      const c = checkBrokerInput(input);
      if (!c.ok) return c;
      const bizEntityKey = randomString(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789');
      const secret = randomAlnum(48);
      const mode: SharingMode = input.partialSharing ? 'PARTIAL' : 'STANDARD';
      // PARTIAL brokers get every shipped questionnaire version unless the operator names some.
      const versions = input.questionnaireVersions ?? (mode === 'PARTIAL' ? [...deps.templates.keys()] : []);
      await db.query(
        `INSERT INTO kyc_brokers (biz_entity_key, name, secret_sealed, sharing_mode, ip_whitelist, main_account_ids,
          questionnaire_versions, max_sub_accounts_per_user, connect_partner_code, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          bizEntityKey,
          input.name,
          box.seal(secret),
          mode,
          JSON.stringify(input.ipWhitelist ?? []),
          JSON.stringify(input.mainAccountIds ?? []),
          JSON.stringify(versions),
          input.maxSubAccountsPerUser ?? 5,
          input.connectPartnerCode ?? null,
          clock.now(),
        ],
      );
      return ok({ bizEntityKey, secret, broker: publicBroker((await getBroker(bizEntityKey))!) });
    },

    async updateBroker(key: string, patch: BrokerPatch): Promise<Result<Omit<Broker, 'secret'>>> {
      const c = checkBrokerInput(patch);
      if (!c.ok) return c;
      const sets: string[] = [];
      const vals: unknown[] = [key];
      const set = (col: string, v: unknown) => {
        vals.push(v);
        sets.push(`${col} = $${vals.length}`);
      };
      if (patch.ipWhitelist !== undefined) set('ip_whitelist', JSON.stringify(patch.ipWhitelist));
      if (patch.mainAccountIds !== undefined) set('main_account_ids', JSON.stringify(patch.mainAccountIds));
      if (patch.questionnaireVersions !== undefined)
        set('questionnaire_versions', JSON.stringify(patch.questionnaireVersions));
      if (patch.maxSubAccountsPerUser !== undefined) set('max_sub_accounts_per_user', patch.maxSubAccountsPerUser);
      if (patch.connectPartnerCode !== undefined) set('connect_partner_code', patch.connectPartnerCode);
      if (patch.enabled !== undefined) set('status', patch.enabled ? 'ACTIVE' : 'DISABLED');
      // Shares and checks from now on follow the new mode (brokerIsPartial reads it each time).
      if (patch.partialSharing !== undefined) set('sharing_mode', patch.partialSharing ? 'PARTIAL' : 'STANDARD');
      if (sets.length > 0) {
        const r = await db.query(`UPDATE kyc_brokers SET ${sets.join(', ')} WHERE biz_entity_key = $1`, vals);
        if (r.rowCount === 0) return err('BROKER_NOT_FOUND');
      }
      const b = await getBroker(key);
      return b ? ok(publicBroker(b)) : err('BROKER_NOT_FOUND');
    },

    /** A broker without its secret, or null. */
    async brokerSettings(key: string): Promise<Omit<Broker, 'secret'> | null> {
      const b = await getBroker(key);
      return b ? publicBroker(b) : null;
    },

    /**
     * A new secret for a broker, returned once (stored sealed); the old one stops working at once, since the broker's
     * requests read the secret per request.
     */
    async rotateBrokerSecret(key: string): Promise<Result<{ bizEntityKey: string; secret: string }>> {
      const secret = randomAlnum(48);
      const r = await db.query(`UPDATE kyc_brokers SET secret_sealed = $2 WHERE biz_entity_key = $1`, [
        key,
        box.seal(secret),
      ]);
      return r.rowCount === 1 ? ok({ bizEntityKey: key, secret }) : err('BROKER_NOT_FOUND');
    },

    async listBrokers() {
      const rows = (await db.query<BrokerRow>(`SELECT * FROM kyc_brokers ORDER BY created_at`)).rows;
      return rows.map((r) => publicBroker(toBroker(r)));
    },

    /**
     * Accepts a share (synchronous part): field rules, requestNo idempotency, account linking; then queues it.
     * A rejected request consumes nothing, so the broker can correct and resend it under the same requestNo.
     */
    async share(broker: Broker, rawBody: Buffer, body: Record<string, unknown>): Promise<Result<null, KycErrorCode>> {
      const v = validateShare(body, {
        sharingMode: broker.sharingMode,
        questionnaireVersions: broker.questionnaireVersions,
        templates: deps.templates,
        allowHttpFiles: deps.mode === 'sandbox',
        now: clock.now(),
      });
      if (!v.ok) return err('INVALID_PARAM', v.detail);
      const { requestNo, kycInfo } = v.value;
      const u = kycInfo.userInfo;
      const bodyHash = sha256Hex(rawBody);
      const previous = (
        await db.query(`SELECT body_sha256 FROM kyc_shares WHERE biz_entity_key = $1 AND request_no = $2`, [
          broker.bizEntityKey,
          requestNo,
        ])
      ).rows[0];
      if (previous)
        return previous.body_sha256 === bodyHash
          ? ok(null)
          : err('DUPLICATE_REQUEST', `requestNo ${requestNo} was already used with another body`);
      if (broker.mainAccountIds.length > 0 && !broker.mainAccountIds.includes(u.brokerMainAccountId)) {
        return err('INVALID_BROKER_ACCOUNT', 'kycInfo.userInfo.brokerMainAccountId: not a main account of this broker');
      }
      const r = await catchDomain(() =>
        db.tx(async (q) => {
          const now = clock.now();
          const link = (
            await q.query(
              `SELECT entity_customer_id, broker_main_account_id FROM kyc_sub_accounts WHERE biz_entity_key = $1
                AND broker_sub_account_id = $2 FOR UPDATE`,
              [broker.bizEntityKey, u.brokerSubAccountId],
            )
          ).rows[0];
          if (link && link.entity_customer_id !== u.entityCustomerId)
            throw new DomainError(
              'SUB_ACCOUNT_LINKED_TO_OTHER_USER',
              'kycInfo.userInfo.brokerSubAccountId: linked to another entityCustomerId',
            );
          if (link && link.broker_main_account_id !== u.brokerMainAccountId)
            throw new DomainError(
              'SUB_ACCOUNT_LINKED_TO_OTHER_MAIN',
              'kycInfo.userInfo.brokerSubAccountId: linked under another main account',
            );
          if (!link) {
            const n = Number(
              (
                await q.query(
                  `SELECT count(*) AS n FROM kyc_sub_accounts WHERE biz_entity_key = $1 AND entity_customer_id = $2`,
                  [broker.bizEntityKey, u.entityCustomerId],
                )
              ).rows[0].n,
            );
            if (n >= broker.maxSubAccountsPerUser)
              throw new DomainError('TOO_MANY_SUB_ACCOUNTS', `the user already has ${n} sub accounts`);
            const ins = await q.query(
              `INSERT INTO kyc_sub_accounts (biz_entity_key, broker_sub_account_id, broker_main_account_id,
                entity_customer_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
              [broker.bizEntityKey, u.brokerSubAccountId, u.brokerMainAccountId, u.entityCustomerId, now],
            );
            // Linked concurrently by another request: its rules win, ask the broker to retry.
            if (ins.rowCount === 0)
              throw new DomainError('ACCOUNT_CHECK_FAILED', 'concurrent link of the same sub account; retry');
          }
          const id = ids.next();
          const ins = await q.query(
            `INSERT INTO kyc_shares (id, biz_entity_key, request_no, body_sha256, entity_customer_id, status,
              payload_sealed, created_at)
           VALUES ($1, $2, $3, $4, $5, 'INIT', $6, $7) ON CONFLICT (biz_entity_key, request_no) DO NOTHING`,
            [id, broker.bizEntityKey, requestNo, bodyHash, u.entityCustomerId, box.seal(JSON.stringify(kycInfo)), now],
          );
          if (ins.rowCount === 0) {
            const other = (
              await q.query(`SELECT body_sha256 FROM kyc_shares WHERE biz_entity_key = $1 AND request_no = $2`, [
                broker.bizEntityKey,
                requestNo,
              ])
            ).rows[0];
            if (other?.body_sha256 === bodyHash) return;
            throw new DomainError('DUPLICATE_REQUEST', `requestNo ${requestNo} was already used with another body`);
          }
          await outbox.enqueue(q, {
            topic: SHARE_TOPIC,
            orderingKey: `kyc:${broker.bizEntityKey}:${u.entityCustomerId}`,
            payload: { shareId: String(id) },
          });
        }),
      );
      if (!r.ok) return err(r.code as KycErrorCode, r.message);
      return ok(null);
    },

    async shareStatus(broker: Broker, entityCustomerId: string, requestNo: string): Promise<ShareStatus | null> {
      const s = (
        await db.query(
          `SELECT * FROM kyc_shares WHERE biz_entity_key = $1 AND request_no = $2 AND entity_customer_id = $3`,
          [broker.bizEntityKey, requestNo, entityCustomerId],
        )
      ).rows[0];
      if (!s) return null;
      return {
        bizEntityKey: broker.bizEntityKey,
        entityCustomerId,
        requestNo,
        status: s.status,
        failMessage: s.status === 'FAIL' ? s.fail_message : null,
      };
    },

    /** The record behind check-kyc-status, when the ids match a linked sub account. */
    async recordFor(
      broker: Broker,
      ids2: { entityCustomerId: string; brokerMainAccountId: string; brokerSubAccountId: string },
    ): Promise<KycRecordRow | null> {
      const r = await db.query<KycRecordRow>(
        `SELECT r.* FROM kyc_records r JOIN kyc_sub_accounts s ON s.biz_entity_key = r.biz_entity_key
          AND s.entity_customer_id = r.entity_customer_id
         WHERE r.source = 'broker' AND r.subject_key = $1 AND s.broker_sub_account_id = $2
         AND s.broker_main_account_id = $3`,
        [`${broker.bizEntityKey}:${ids2.entityCustomerId}`, ids2.brokerSubAccountId, ids2.brokerMainAccountId],
      );
      return r.rows[0] ?? null;
    },

    // ---- review queue (shared by every source) ----

    /** The queue, oldest change first: optionally one status and one source ('broker' or 'buyflow'). */
    async listRecords(status?: string, source?: string) {
      const r = await db.query<KycRecordRow>(
        `SELECT * FROM kyc_records WHERE ($1::text IS NULL OR kyc_status = $1) AND ($2::text IS NULL OR source = $2)
          ORDER BY updated_at, id LIMIT 500`,
        [status ?? null, source ?? null],
      );
      return r.rows.map((x) => ({
        id: String(x.id),
        source: x.source,
        createdAt: Number(x.created_at),
        updatedAt: Number(x.updated_at),
        ...statusVo(x).statusInfo,
      }));
    },

    /** Every saved change of a record, oldest first. */
    async recordHistory(id: string) {
      const r = await db.query(`SELECT * FROM kyc_record_history WHERE record_id = $1 ORDER BY version`, [id]);
      return r.rows.map((h) => ({
        version: Number(h.version),
        at: Number(h.at),
        kycStatus: String(h.kyc_status),
        checks: String(h.checks),
        failReason: h.fail_reason as string | null,
        note: h.note as string | null,
      }));
    },

    /** A record with its decrypted sections and file list, for the reviewer. */
    async getRecord(id: string) {
      const x = (await db.query<KycRecordRow>(`SELECT * FROM kyc_records WHERE id = $1`, [id])).rows[0];
      if (!x) return null;
      const open = (s: string | null) => (s ? JSON.parse(box.open(s)) : null);
      const files = (
        await db.query(
          `SELECT id, field, content_type, size_bytes, created_at FROM kyc_files WHERE record_id = $1 ORDER BY id`,
          [id],
        )
      ).rows;
      return {
        id: String(x.id),
        source: x.source,
        ...statusVo(x),
        basicInfo: open(x.basic_sealed),
        identityInfo: open(x.identity_sealed),
        tncInfo: open(x.tnc_sealed),
        questionnaireInfo: open(x.questionnaire_sealed),
        files: files.map((f) => ({
          id: String(f.id),
          field: f.field,
          contentType: f.content_type,
          sizeBytes: f.size_bytes,
          createdAt: Number(f.created_at),
        })),
      };
    },

    async getFile(recordId: string, fileId: string): Promise<{ contentType: string; bytes: Buffer } | null> {
      const f = (
        await db.query(`SELECT content_type, data_sealed FROM kyc_files WHERE id = $1 AND record_id = $2`, [
          fileId,
          recordId,
        ])
      ).rows[0];
      return f ? { contentType: f.content_type, bytes: box.openBuffer(f.data_sealed) } : null;
    },

    /** The reviewer's decision on a record waiting for review: every check in REVIEW becomes PASS or REJECT. */
    async decide(
      id: string,
      decision: 'PASS' | 'REJECT',
      reason?: string,
    ): Promise<Result<ReturnType<typeof statusVo>>> {
      return catchDomain(() =>
        db.tx(async (q) => {
          const rec = (await q.query<KycRecordRow>(`SELECT * FROM kyc_records WHERE id = $1 FOR UPDATE`, [id])).rows[0];
          if (!rec) throw new DomainError('KYC_NOT_FOUND');
          if (rec.kyc_status !== 'REVIEW')
            throw new DomainError('KYC_NOT_IN_REVIEW', `the record is ${rec.kyc_status}`);
          const now = BigInt(clock.now());
          const why = decision === 'REJECT' ? reason?.trim() || 'Rejected by reviewer' : null;
          const next: KycRecordRow = { ...rec };
          if (rec.basic_status === 'REVIEW') Object.assign(next, { basic_status: decision, basic_fail_reason: why });
          if (rec.identity_status === 'REVIEW')
            Object.assign(next, { identity_status: decision, identity_fail_reason: why, identity_complete_time: now });
          if (rec.face_status === 'REVIEW')
            Object.assign(next, { face_status: decision, face_fail_reason: why, face_complete_time: now });
          if (rec.wck_status === 'REVIEW') next.wck_status = decision;
          const note = `Reviewer decision: ${decision}${why ? ` (${why})` : ''}`;
          const saved = await saveRecord(q, rec, next, await brokerIsPartial(q, rec.biz_entity_key), note);
          return statusVo(saved);
        }),
      );
    },

    /**
     * The Connect buy flow's own KYC (source 'buyflow'), in the caller's transaction: a first submission or a
     * resubmission after a rejection puts every check in REVIEW for the operator's queue; documents are sealed.
     * Added for src/connect/buyflow.
     */
    async submitBuyflow(
      q: Queryable,
      subject: string,
      input: {
        country: string;
        documentType: string;
        basic: Record<string, string>;
        files: { field: string; contentType: string; bytes: Buffer }[];
      },
    ): Promise<Result<{ recordId: string }, 'KYC_ALREADY_PASSED' | 'KYC_IN_REVIEW'>> {
      return submitBuyflowRecord(q, subject, {
        basic: { ...input.basic, residentCountry: input.country },
        identity: { idCountry: input.country, idType: input.documentType },
        faceStatus: 'REVIEW',
        files: input.files,
      });
    },

    /**
     * The buy flow's proof-of-address check (VERIFIED_PLUS), a record of its own in the same review queue: the
     * address and the sealed document wait for the reviewer; there is no face check. Added for src/connect/buyflow.
     */
    async submitBuyflowAddress(
      q: Queryable,
      subject: string,
      input: {
        address: Record<string, string>;
        file: { contentType: string; bytes: Buffer };
      },
    ): Promise<Result<{ recordId: string }, 'KYC_ALREADY_PASSED' | 'KYC_IN_REVIEW'>> {
      return submitBuyflowRecord(q, subject, {
        basic: input.address,
        identity: { idType: 'PROOF_OF_ADDRESS' },
        faceStatus: 'SKIP',
        files: [{ field: 'proofOfAddress', ...input.file }],
      });
    },

    /**
     * Status of a buy-flow KYC record (for the Under Review page and the decision sync). Added for
     * src/connect/buyflow.
     */
    async buyflowStatus(
      q: Queryable,
      subject: string,
    ): Promise<{ recordId: string; status: CheckStatus; failReason: string | null; expectTime: number | null } | null> {
      const r = (
        await q.query<KycRecordRow>(`SELECT * FROM kyc_records WHERE source = 'buyflow' AND subject_key = $1`, [
          subject,
        ])
      ).rows[0];
      if (!r) return null;
      const vo = statusVo(r).statusInfo;
      return {
        recordId: String(r.id),
        status: r.kyc_status,
        failReason: r.kyc_status === 'REJECT' ? r.fail_reason : null,
        expectTime: vo.expectTime,
      };
    },

    /**
     * The identity a buy-flow user's approved KYC attests (source 'buyflow', status PASS), opened from its sealed
     * sections, or null when the user has none. For Pay's payer verification (binance-pay-extended.md §17.1), which
     * compares a merchant's data with it and never shows it.
     */
    async approvedBuyflowIdentity(userId: string): Promise<{
      firstName: string | null;
      lastName: string | null;
      dateOfBirth: string | null;
      nationality: string | null;
      documentType: string | null;
      documentNumber: string | null;
    } | null> {
      const r = (
        await db.query<KycRecordRow>(
          `SELECT * FROM kyc_records WHERE source = 'buyflow' AND subject_key = $1 AND kyc_status = 'PASS'`,
          [`buyflow:${userId}`],
        )
      ).rows[0];
      if (!r) return null;
      const basic = r.basic_sealed ? (JSON.parse(box.open(r.basic_sealed)) as Section) : {};
      const identity = r.identity_sealed ? (JSON.parse(box.open(r.identity_sealed)) as Section) : {};
      const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
      return {
        firstName: str(basic.firstName),
        lastName: str(basic.lastName),
        dateOfBirth: str(basic.dateOfBirth),
        // The buy flow asks for no nationality: the ID's issuing country is what it attests.
        nationality: str(identity.nationalityCountry) ?? str(identity.idCountry),
        documentType: str(identity.idType),
        documentNumber: str(identity.idNumber),
      };
    },

    /**
     * Facilitated KYC (§7): the passed broker-shared record of `entityCustomerId` under a broker linked to this
     * Connect partner, or null. For the Connect buy flow to skip its KYC pages.
     */
    /**
     * A broker-shared passed record for the partner's user, with the countries it attests (residence, nationality, ID)
     * for the region check.
     */
    async passedSharedUser(
      partnerCode: string,
      entityCustomerId: string,
    ): Promise<{
      kycUserId: string;
      bizEntityKey: string;
      countries: { residence: string | null; nationality: string | null; idCountry: string | null };
    } | null> {
      const r = (
        await db.query(
          `SELECT r.id, r.biz_entity_key, r.basic_sealed, r.identity_sealed FROM kyc_records r JOIN kyc_brokers b
            ON b.biz_entity_key = r.biz_entity_key
         WHERE b.connect_partner_code = $1 AND b.status = 'ACTIVE' AND r.source = 'broker' AND r.entity_customer_id = $2
         AND r.kyc_status = 'PASS'
         ORDER BY r.updated_at DESC LIMIT 1`,
          [partnerCode, entityCustomerId],
        )
      ).rows[0];
      if (!r) return null;
      const basic = r.basic_sealed ? (JSON.parse(box.open(r.basic_sealed)) as Section) : {};
      const identity = r.identity_sealed ? (JSON.parse(box.open(r.identity_sealed)) as Section) : {};
      const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v.toUpperCase() : null);
      return {
        kycUserId: String(r.id),
        bizEntityKey: r.biz_entity_key,
        countries: {
          residence: str(basic.residentialCountry ?? basic.country),
          nationality: str(identity.nationalityCountry),
          idCountry: str(identity.idCountry),
        },
      };
    },
  };
}

export type KycService = ReturnType<typeof createKycService>;
