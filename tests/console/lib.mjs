// Shared helpers of the Security Console browser tests: Debian's chromium driven by
// playwright-core (no browser download). Each scenario is started by
// crates/latchkey/tests/it/console.rs with the server's URL and credentials in the
// environment, prints what it saw, and exits non-zero on the first failed check.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
}

export const URL = env('LK_URL');

/// Passcodes for sign-ins, used in order (HOTP codes computed with oathtool by the caller:
/// a code is accepted once, so every sign-in needs the next one).
const passcodes = (process.env.LK_PASSCODES || '').split(',').filter(Boolean);
export function nextPasscode() {
  const p = passcodes.shift();
  if (!p) throw new Error('no passcode left in LK_PASSCODES');
  return p;
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.LK_CHROMIUM || '/usr/bin/chromium',
    // Root in containers and CI: chromium's sandbox needs user namespaces it may not get.
    args: ['--no-sandbox'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.log(`browser console error: ${m.text()}`); });
  return { browser, context, page };
}

/// Signs in through the form; returns the page (on the users page).
export async function signIn(page, name, password, passcode = nextPasscode()) {
  await page.goto(`${URL}/console/sign-in`);
  await page.getByLabel('Administrator').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel(/^Passcode/).fill(passcode);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
  check(page.url().endsWith('/console/users'), `${name} signed in (at ${page.url()})`);
}

/// Screenshots of the current page at desktop and phone sizes.
export async function shoot(page, name) {
  const dir = process.env.LK_SHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    // Usable at that width: nothing wider than the window but scrollable tables.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `${name} fits ${w}px wide (overflow ${overflow}px)`);
    await page.screenshot({ path: join(dir, `${name}-${w}x${h}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

/// Runs a scenario, closing the browser whatever happens; exit status 1 on failure.
export async function run(scenario) {
  const b = await launch();
  try {
    await scenario(b.page, b);
    console.log('SCENARIO PASSED');
  } catch (e) {
    console.log(`SCENARIO FAILED: ${e.stack || e}`);
    try { console.log(`at ${b.page.url()}:\n${(await b.page.content()).slice(0, 3000)}`); } catch { /* closed */ }
    process.exitCode = 1;
  } finally {
    await b.browser.close();
  }
}
