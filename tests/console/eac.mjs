// Emergency codes handed out in the console: an emergency access code (used afterwards by
// the Rust test through the cloud API) and a temporary fixed tokencode (used through the
// agent API). Prints `EAC <code>` and `ONLINE <code>`.
import { URL, env, check, run, signIn, shoot } from './lib.mjs';

const user = env('LK_USER');
const serial = env('LK_SERIAL');

await run(async (page) => {
  await signIn(page, env('LK_ADMIN'), env('LK_PASSWORD'));
  await page.goto(`${URL}/console/users/${user}`);
  await page.getByRole('link', { name: 'Generate Emergency Access Code' }).click();
  await shoot(page, 'access-code-form');
  await page.getByLabel(/^Online validity/).fill('30m');
  await page.getByRole('button', { name: 'Generate' }).click();
  const eac = (await page.locator('#eac-code').textContent()).trim();
  check(/^[A-Za-z0-9]{10}$/.test(eac), 'a 10-character emergency access code is shown once');
  check((await page.locator('#eac-state').textContent()).includes('one-time'), 'it is one-time');
  await shoot(page, 'access-code-shown');
  await page.goto(`${URL}/console/users/${user}/access-code`);
  check((await page.locator('#eac-code').count()) === 0, 'the code is not shown again');
  console.log(`EAC ${eac}`);

  await page.goto(`${URL}/console/users/${user}`);
  await page.getByRole('link', { name: `Emergency Access Tokencodes: ${serial}` }).click();
  await shoot(page, 'tokencodes');
  await page.getByLabel('Temporary fixed tokencode').check();
  await page.getByLabel(/^If the token becomes available/).selectOption('allow_and_end_emergency');
  await page.getByRole('button', { name: 'Put into emergency access' }).click();
  const code = (await page.locator('#online-code').textContent()).trim();
  check(/^[A-Za-z0-9]{8}$/.test(code), 'an 8-character fixed tokencode is shown once');
  check((await page.locator('#online-state').textContent()).includes('temporary fixed tokencode'), 'the token is in emergency access mode');
  await shoot(page, 'tokencodes-granted');
  console.log(`ONLINE ${code}`);

  // The offline emergency tokencode with the online-use flag.
  await page.goto(`${URL}/console/tokens/${serial}/emergency`);
  check((await page.locator('#online-code').count()) === 0, 'the fixed tokencode is not shown again');
  await page.getByLabel('Use offline code for online access').check();
  await page.getByLabel('Reset offline emergency tokencode').check();
  await page.locator('#tokencode-form').getByRole('button', { name: 'Update' }).click();
  check((await page.locator('.notice').textContent()).includes('A new value was generated'), 'offline tokencode reset');
  check(await page.getByLabel('Use offline code for online access').isChecked(), 'online use is on');

  await page.goto(`${URL}/console/dashboard`);
  check((await page.locator('main').textContent()).includes(serial), 'the dashboard lists the active emergency access');
  await shoot(page, 'dashboard');
});
