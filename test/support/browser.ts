import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * Browser tests drive the distribution's Chromium (Debian package) through playwright-core, so no browser
 * download is needed. Without it the browser suites are skipped with an install hint, never failed.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const browserSkip: string | false = existsSync(CHROMIUM_PATH)
  ? false
  : 'install Debian chromium: apt-get install chromium';

export const SCREENSHOT_DIR = join(process.cwd(), 'test-results', 'screenshots');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  newPage(): Promise<Page>;
  /** Saves a full-page PNG as test-results/screenshots/<name>.png and returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

/** A fresh profile (its own --user-data-dir) per launch, removed on close. */
export async function launchBrowser(): Promise<Browser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'rampart-chromium-'));
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: FLAGS,
    viewport: { width: 480, height: 900 },
    timeout: 30_000,
  });
  return {
    context,
    newPage: () => context.newPage(),
    async screenshot(page, name) {
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A phone's screen (the brief's 390 px). */
export const PHONE = { width: 390, height: 844 };

/**
 * What a person on a phone needs from a page, checked before its screenshot: the page never scrolls sideways (a wide
 * table may scroll inside its own `.scroll` box), every button is inside the screen and at least 40 px tall, and no
 * text is below 12 px.
 */
export async function phoneFit(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const problems: string[] = [];
    if (document.documentElement.scrollWidth > w)
      problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${w})`);
    for (const e of Array.from(document.querySelectorAll('main *'))) {
      if (e.closest('.scroll')) continue;
      if (e.getBoundingClientRect().right > w + 0.5) problems.push(`wider than the screen: ${e.tagName}#${e.id}`);
    }
    for (const b of Array.from(document.querySelectorAll('main .btn'))) {
      const r = b.getBoundingClientRect();
      if (r.left < 0 || r.right > w) problems.push(`button outside the screen: ${b.textContent}`);
      if (r.height < 40) problems.push(`small button (${r.height}px): ${b.textContent}`);
    }
    for (const e of Array.from(document.querySelectorAll('main p, main td, main label, main .error, main .flash')))
      if (parseFloat(getComputedStyle(e).fontSize) < 12) problems.push(`text below 12 px: ${e.textContent}`);
    return problems;
  });
}

/**
 * A new merchant dashboard user's first visit: the set-password link from the mail `mailText`, then the login, ending
 * on the orders page.
 */
export async function dashboardFirstLogin(page: Page, mailText: string, email: string, password: string) {
  await page.goto(/(http\S+\/en\/dashboard\/set-password\?token=[a-z0-9]+)/.exec(mailText)![1]!);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/en\/dashboard\/login/);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/en\/dashboard\/orders/);
}

/**
 * A phone-sized page (PHONE) logged in to the dashboard as the merchant owner invited at `email`: the set-password
 * link taken from the owner's mail, then the log-in. Several browser tests start from exactly this in their set-up.
 */
export async function dashboardOwnerPage(
  browser: Browser,
  t: { app: { services: { mailer: { list(to: string): Promise<{ subject: string; text: string }[]> } } } },
  email: string,
  password: string,
): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewportSize(PHONE);
  const mail = (await t.app.services.mailer.list(email)).find((x) => x.subject.startsWith('Set your'))!;
  await dashboardFirstLogin(page, mail.text, email, password);
  return page;
}
