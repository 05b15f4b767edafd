// The seed procedure: sign in, find the user, Manage Emergency Offline Access, reveal with a
// reason, see the value and its expiration date, tick reset, Update; the audit log shows the
// reveal and the reset.
import { URL, env, check, run, signIn, shoot } from './lib.mjs';

const user = env('LK_USER');

await run(async (page) => {
  await signIn(page, env('LK_ADMIN'), env('LK_PASSWORD'));
  await shoot(page, 'users');

  await page.getByLabel('Name').fill(user);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: user, exact: true }).click();
  check(page.url().endsWith(`/console/users/${user}`), 'user page opened from the search');
  await shoot(page, 'user');

  await page.getByRole('link', { name: 'Manage Emergency Offline Access' }).click();
  check((await page.locator('#offline-value').count()) === 0, 'no value before a reason is given');
  // The reason is required: the browser will not send the form without one.
  await page.getByRole('button', { name: 'Reveal' }).click();
  check((await page.locator('#offline-value').count()) === 0, 'an empty reason reveals nothing');

  await page.getByLabel(/^Reason/).fill('INC-4711 laptop offline at a customer site');
  await page.getByRole('button', { name: 'Reveal' }).click();
  const value = (await page.locator('#offline-value').textContent()).trim();
  const expires = (await page.locator('#offline-expires').textContent()).trim();
  check(/^[A-Za-z0-9]{12}$/.test(value), `a 12-character passcode is shown`);
  check(/^\d{4}-\d{2}-\d{2} /.test(expires), `its expiration date is shown (${expires})`);
  await shoot(page, 'offline-access-revealed');
  console.log(`VALUE ${value}`);

  await page.getByLabel('Reset offline emergency access passcode').check();
  await page.getByRole('button', { name: 'Update' }).click();
  check((await page.locator('.notice').textContent()).includes('A new value was generated'), 'reset confirmed');
  check((await page.locator('#offline-value').count()) === 0, 'the new value is not shown without a reason');
  await page.getByLabel(/^Reason/).fill('INC-4711 tell the user the new value');
  await page.getByRole('button', { name: 'Reveal' }).click();
  const second = (await page.locator('#offline-value').textContent()).trim();
  check(second !== value && second.length === 12, 'after the reset a different value is shown');
  console.log(`VALUE2 ${second}`);

  await page.goto(`${URL}/console/audit?user=${encodeURIComponent(user)}&event=emergency.offline_passcode`);
  const events = await page.locator('#audit td.event').allTextContents();
  check(events.filter((e) => e === 'emergency.offline_passcode.reveal').length === 2, 'the audit log shows both reveals');
  check(events.includes('emergency.offline_passcode.reset'), 'the audit log shows the reset');
  const body = await page.locator('#audit').textContent();
  check(body.includes('INC-4711 laptop offline'), 'the reason is in the audit log');
  check(!body.includes(value) && !body.includes(second), 'no value is in the audit log');
  await shoot(page, 'audit');

  const exp = await page.request.get(`${URL}/console/audit/export?user=${encodeURIComponent(user)}`);
  check(exp.status() === 200, 'export answers 200');
  const lines = (await exp.text()).trim().split('\n').map((l) => JSON.parse(l));
  check(lines.some((r) => r.action === 'emergency.offline_passcode.reset'), 'the JSON-lines export has the reset');
});
