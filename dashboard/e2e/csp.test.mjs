// The dashboard works under the gateway's Content-Security-Policy: every
// tab, with data and the live feed, raises no CSP violation (neither a
// `securitypolicyviolation` event nor a console error), while an inline
// script injected into the page is blocked, which shows the policy is in
// force and the listener hears it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, launchBrowser, openDashboard, openTab, startShop, uniqueUser, until } from './helpers.mjs';

let shop;
let browser;

before(async () => {
  shop = await startShop({ paymentSuccessRate: 1 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await shop?.stop();
});

/** Violations the page has reported so far. */
const violations = (page) => page.evaluate(() => window.__cspViolations ?? []);

test('no tab of the dashboard violates its Content-Security-Policy', async () => {
  const user = uniqueUser('csp');
  await api(shop.url, 'POST', `/cart/cart/${user}/items`, { product_id: 2, quantity: 1 });
  const placed = await api(shop.url, 'POST', '/order/orders', { user_id: user });
  await api(shop.url, 'POST', `/order/orders/${placed.id}/payment`);
  await api(shop.url, 'POST', `/cart/cart/${user}/items`, { product_id: 3, quantity: 1 });

  const response = await fetch(`${shop.url}/`);
  const policy = response.headers.get('content-security-policy') ?? '';
  assert.match(policy, /script-src 'self'/);
  assert.doesNotMatch(policy, /unsafe-inline/);
  assert.equal(response.headers.get('x-frame-options'), 'DENY');

  const { context, page, problems } = await openDashboard(browser, shop.url, { userId: user });
  const cspConsole = [];
  page.on('console', (msg) => {
    if (/Content[- ]Security[- ]Policy/i.test(msg.text())) cspConsole.push(msg.text());
  });
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
    });
  });
  // The init script applies from the next navigation on.
  await page.reload();

  await page.getByTestId('stat-orders').waitFor();
  await page.getByText('Live updates').waitFor();
  await page.getByRole('table').getByRole('row').filter({ hasText: `#${placed.id}` }).waitFor();

  await openTab(page, 'Products');
  await page.getByRole('article', { name: 'Mouse' }).waitFor();
  await page.getByRole('button', { name: 'New product' }).click();
  await page.getByRole('form', { name: 'New product' }).waitFor();

  await openTab(page, 'Cart');
  await page.getByRole('listitem', { name: 'Keyboard' }).waitFor();

  await openTab(page, 'Orders');
  await page.getByRole('button', { name: new RegExp(`^Order #${placed.id}\\b`) }).click();
  await page.getByRole('article', { name: `Order #${placed.id}` }).waitFor();

  await openTab(page, 'Dashboard');
  await page.getByTestId('stat-orders').waitFor();

  assert.deepEqual(await violations(page), [], 'CSP violations while using the tabs');
  assert.deepEqual(cspConsole, [], 'CSP errors in the console');
  assert.deepEqual(
    problems.filter((p) => !/Content[- ]Security[- ]Policy/i.test(p)),
    [],
    'other page errors',
  );

  // The policy is in force: an inline script does not run, and is reported.
  const ran = await page.evaluate(() => {
    window.__inlineRan = false;
    const script = document.createElement('script');
    script.textContent = 'window.__inlineRan = true;';
    document.body.append(script);
    return window.__inlineRan;
  });
  assert.equal(ran, false, 'an injected inline script ran');
  const reported = await until(async () => {
    const seen = await violations(page);
    return seen.length > 0 ? seen : false;
  }, { ms: 5_000, what: 'the blocked inline script to be reported' });
  assert.equal(reported.length, 1, `the blocked inline script was reported: ${reported}`);
  assert.match(reported[0], /script-src/);
  await context.close();
});
