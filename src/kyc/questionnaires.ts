import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Questionnaire templates are operator data (kyc-sharing.md §2): one JSON file per version in ./questionnaires.
 * KZ_V6 carries the published example's question and option keys; its other options are Rampart's sample data.
 */
export interface QuestionnaireTemplate {
  version: string;
  questions: { title: string; options: string[] }[];
}

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'questionnaires');

export function loadQuestionnaires(dir = DIR): Map<string, QuestionnaireTemplate> {
  const out = new Map<string, QuestionnaireTemplate>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const t = JSON.parse(readFileSync(join(dir, f), 'utf8')) as QuestionnaireTemplate;
    if (!t.version || !Array.isArray(t.questions) || t.questions.length === 0)
      throw new Error(`bad questionnaire template ${f}`);
    out.set(t.version, t);
  }
  return out;
}

/** Every question answered exactly once with one of its options; returns the first problem, naming it. */
export function checkAnswers(t: QuestionnaireTemplate, answers: { title: string; option: string }[]): string | null {
  const byTitle = new Map(t.questions.map((q) => [q.title, q]));
  const seen = new Set<string>();
  for (const [i, a] of answers.entries()) {
    const q = byTitle.get(a.title);
    if (!q) return `questionnaireInfo.answers[${i}].title: unknown question ${a.title} for ${t.version}`;
    if (seen.has(a.title)) return `questionnaireInfo.answers[${i}].title: duplicate answer to ${a.title}`;
    seen.add(a.title);
    if (!q.options.includes(a.option))
      return `questionnaireInfo.answers[${i}].option: ${a.option} is not an option of ${a.title}`;
  }
  for (const q of t.questions) if (!seen.has(q.title)) return `questionnaireInfo.answers: missing ${q.title}`;
  return null;
}
