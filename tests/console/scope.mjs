// Boundaries: a help desk administrator of another domain cannot see the user (search and
// direct URL); a form without its CSRF token is refused; a signed-out session reaches no
// page.
import { URL, env, check, run, signIn, shoot } from './lib.mjs';

const user = env('LK_USER');

await run(async (page, { context }) => {
  await page.goto(`${URL}/console/users`);
  check(page.url().endsWith('/console/sign-in'), 'no session: sent to sign-in');
  await shoot(page, 'sign-in');

  // A wrong passcode does not sign in.
  await page.getByLabel('Administrator').fill(env('LK_HD'));
  await page.getByLabel('Password').fill(env('LK_HD_PASSWORD'));
  await page.getByLabel(/^Passcode/).fill('00000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  check((await page.locator('.error').textContent()).includes('Sign-in failed'), 'a wrong passcode is refused');

  await signIn(page, env('LK_HD'), env('LK_HD_PASSWORD'));
  await page.getByLabel('Name').fill(user);
  await page.getByRole('button', { name: 'Search' }).click();
  check((await page.locator('main').textContent()).includes('0 user(s)'), `the search does not find ${user}`);
  check((await page.getByRole('link', { name: user, exact: true }).count()) === 0, 'no link to the user');
  for (const path of [`/console/users/${user}`, `/console/users/${user}/offline-access`, `/console/users/${user}/access-code`]) {
    const res = await page.goto(`${URL}${path}`);
    check(res.status() === 403, `${path} answers 403 to the other domain's help desk`);
  }
  await shoot(page, 'forbidden');

  // Own user page: a help desk role gets no emergency actions.
  const own = env('LK_HD');
  await page.goto(`${URL}/console/users/${own}`);
  check((await page.getByRole('link', { name: 'Generate Emergency Access Code' }).count()) === 0, 'help desk is not offered emergency access codes');

  // CSRF: the session cookie alone is not enough.
  const csrf = await page.locator('input[name=csrf]').first().inputValue();
  const post = (data) => page.request.post(`${URL}/console/users/${own}/unlock`, { form: data, maxRedirects: 0 });
  check((await post({})).status() === 403, 'a form without its CSRF token is refused');
  check((await post({ csrf: 'x'.repeat(64) })).status() === 403, 'a form with a wrong CSRF token is refused');
  check((await post({ csrf })).status() === 303, 'the same form with the token is accepted');

  // Sign out; the old session cookie opens nothing.
  const cookies = await context.cookies();
  await page.getByRole('button', { name: 'Sign out' }).click();
  check(page.url().endsWith('/console/sign-in'), 'signed out');
  await context.addCookies(cookies);
  for (const path of ['/console/users', `/console/users/${own}`, '/console/dashboard', '/console/audit']) {
    const res = await page.request.get(`${URL}${path}`, { maxRedirects: 0 });
    check(res.status() === 303 && res.headers()['location'] === '/console/sign-in', `${path} after sign-out sends to sign-in`);
  }
  check((await post({ csrf })).status() === 303 && (await post({ csrf })).headers()['location'] === '/console/sign-in', 'a form of the ended session is not acted on');
});
