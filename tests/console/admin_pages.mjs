// The administration pages: tokens → enrol a token (QR code visible, shown once) → domains
// and policies (create a sub-domain, a refused policy value shown with its reason, a saved
// one) → agents (add, key shown once) → messaging → administrators (add, password shown once).
import { URL, env, check, run, signIn, shoot } from './lib.mjs';

const user = env('LK_USER');

await run(async (page) => {
  await signIn(page, env('LK_ADMIN'), env('LK_PASSWORD'));

  // Tokens.
  await page.getByRole('link', { name: 'Tokens', exact: true }).click();
  check(page.url().endsWith('/console/tokens'), 'tokens page from the navigation');
  check(await page.locator('#tokens').textContent().then((t) => t.includes('ADM-')), 'the list shows the tokens in scope');
  await shoot(page, 'tokens');
  const enrol = page.locator('#enrol-form');
  await enrol.getByLabel('User (optional)').fill(user);
  await enrol.getByLabel('Serial (optional)').fill('WEB-1');
  await enrol.getByRole('button', { name: 'Generate' }).click();
  const qr = page.locator('img#qr');
  await qr.waitFor();
  const width = await qr.evaluate((img) => img.complete && img.naturalWidth);
  check(width > 0, `the QR code is rendered (natural width ${width}px, allowed by the CSP)`);
  const uri = (await page.locator('#otpauth').textContent()).trim();
  check(uri.startsWith('otpauth://totp/'), 'the otpauth URI is shown');
  console.log(`OTPAUTH ${uri}`);
  await shoot(page, 'token-enrolled');
  await page.getByRole('link', { name: 'Manage the token' }).click();
  check((await page.locator('img#qr').count()) === 0 && !(await page.content()).includes('otpauth://'), 'the QR code is not shown again');
  check((await page.locator('#token-user').textContent()).trim() === user, 'the token is assigned to the user');
  await page.getByRole('button', { name: 'Disable' }).click();
  check((await page.locator('#token-enabled').textContent()).trim() === 'no', 'the token was disabled');
  await page.getByRole('button', { name: 'Enable' }).click();
  check((await page.locator('#token-enabled').textContent()).trim() === 'yes', 'and enabled again');
  await shoot(page, 'token');

  // Domains and policies.
  await page.getByRole('link', { name: 'Domains', exact: true }).click();
  const create = page.locator('#domain-form');
  await create.getByLabel('Name').fill('east');
  await create.getByRole('button', { name: 'Create' }).click();
  check(page.url().includes('/console/domains/east'), 'the sub-domain was created');
  const lockout = page.locator('#policy-lockout');
  const text = await lockout.locator('textarea').inputValue();
  const value = JSON.parse(text);
  await lockout.locator('textarea').fill(JSON.stringify({ ...value, max_failures: 0 }, null, 2));
  await lockout.getByRole('button', { name: /^Save on/ }).click();
  const err = (await page.locator('#policy-lockout .error').textContent()).trim();
  check(err.startsWith('max_failures: must be between 1 and 1000'), `the core's reason is shown (${err})`);
  await shoot(page, 'policy-refused');
  await page.locator('#policy-lockout textarea').fill(JSON.stringify({ ...value, max_failures: 7 }, null, 2));
  await page.locator('#policy-lockout').getByRole('button', { name: /^Save on/ }).click();
  check((await page.locator('.notice').textContent()).includes('The policy was saved.'), 'the policy was saved');
  check((await page.locator('#policy-lockout').textContent()).includes('Set on this domain.'), 'it is now the domain\'s own');
  await page.getByRole('link', { name: 'Domains', exact: true }).click();
  check((await page.locator('#domain-tree').textContent()).includes('east'), 'the tree shows the sub-domain');
  await shoot(page, 'domains');

  // Agents.
  await page.getByRole('link', { name: 'Agents', exact: true }).click();
  const add = page.locator('#agent-form');
  await add.getByLabel('Name').fill('web-vpn');
  await add.getByLabel('Kind').selectOption('radius');
  await add.getByLabel(/^RADIUS client address/).fill('192.0.2.44');
  await add.getByRole('button', { name: 'Add' }).click();
  const secret = (await page.locator('#agent-secret').textContent()).trim();
  check(secret.length >= 16, 'the RADIUS secret is shown once');
  await shoot(page, 'agent-added');
  await page.getByRole('link', { name: 'Back to agents' }).click();
  check((await page.locator('#agents').textContent()).includes('web-vpn'), 'the agent is listed');
  check(!(await page.content()).includes(secret), 'the secret is not shown again');
  await shoot(page, 'agents');

  // Messaging.
  await page.getByRole('link', { name: 'Messaging', exact: true }).click();
  check(await page.locator('#providers').isVisible(), 'the providers section is shown');
  check(await page.locator('#outbox').isVisible(), 'the outbox is shown');
  await shoot(page, 'messaging');

  // Administrators.
  await page.getByRole('link', { name: 'Administrators', exact: true }).click();
  const form = page.locator('#admin-form');
  await form.getByLabel('Name').fill('kim');
  await form.getByLabel('Role').selectOption('help-desk');
  await form.getByLabel(/^Scope/).fill('east');
  await form.getByRole('button', { name: 'Add' }).click();
  const pw = (await page.locator('#admin-password').textContent()).trim();
  check(pw.length >= 12, 'the new administrator\'s password is shown once');
  await shoot(page, 'admin-added');
  await page.getByRole('link', { name: 'Back to administrators' }).click();
  check((await page.locator('#admins').textContent()).includes('kim'), 'the administrator is listed');
  await shoot(page, 'admins');

  // The dashboard chart (inline SVG, no script).
  await page.getByRole('link', { name: 'Dashboard', exact: true }).click();
  check(await page.locator('svg#auth-chart').isVisible(), 'the dashboard shows the authentication chart');
  await shoot(page, 'dashboard');
});
