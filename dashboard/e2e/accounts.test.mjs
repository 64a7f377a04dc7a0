// Accounts in the dashboard (AUTH=on): register, sign in, buy and pay; a
// second customer cannot see the first one's cart or order, not even by
// its URL; staff move an order; sign-out ends access (the old cookie is
// refused); another site's form post changes nothing. The session is an
// HttpOnly cookie: the page itself never holds a token.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  checkAndShoot,
  DESKTOP,
  launchBrowser,
  openDashboard,
  openTab,
  PHONE,
  startShop,
  toasts,
  signIn,
} from './helpers.mjs';

const STAFF = { email: 'admin@shop.local', password: 'staff passphrase 1' };
const PASSWORD = 'customer passphrase';

let shop;
let browser;

before(async () => {
  // Accounts are on by default.
  shop = await startShop({ auth: true, env: { SHOP_ADMIN_PASSWORD: STAFF.password } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await shop?.stop();
});

async function register(page, name, email) {
  await page.goto('/register');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('account-name').filter({ hasText: name }).waitFor();
}

/** The page's own call through the gateway (with its cookie): the status. */
function fetchStatus(page, method, apiPath, body) {
  return page.evaluate(
    async ([m, p, b]) => {
      const res = await fetch(`/api${p}`, {
        method: m,
        headers: b === undefined ? {} : { 'content-type': 'application/json' },
        body: b === undefined ? undefined : JSON.stringify(b),
      });
      return res.status;
    },
    [method, apiPath, body],
  );
}

/** Who the page's session is, as the gateway says. */
function whoAmI(page) {
  return page.evaluate(async () => (await fetch('/api/session')).json());
}

describe('accounts in the dashboard', () => {
  test('register, buy and pay; others cannot see it; staff move it; sign-out ends access', async () => {
    const suffix = Math.floor(Math.random() * 1e9);
    const ada = await openDashboard(browser, shop.url, { viewport: DESKTOP, path: '/' });
    const bob = await openDashboard(browser, shop.url, { viewport: PHONE, path: '/' });
    const staff = await openDashboard(browser, shop.url, { viewport: DESKTOP, path: '/' });
    try {
      // Signed out: a clear message, no user switcher.
      await ada.page.getByText('Sign in to see the dashboard.').waitFor();
      assert.equal(await ada.page.getByLabel('User').count(), 0);

      await register(ada.page, 'Ada', `ada${suffix}@example.com`);
      const me = (await whoAmI(ada.page)).account;
      assert.equal(me.email, `ada${suffix}@example.com`);
      // The session is an HttpOnly, SameSite=Strict cookie the page cannot
      // read; nothing of it is in localStorage.
      const cookies = await ada.context.cookies();
      const session = cookies.find((c) => c.name === 'shop_session');
      assert.ok(session, JSON.stringify(cookies));
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
      assert.equal(await ada.page.evaluate(() => document.cookie.includes('shop_session')), false);
      assert.equal(await ada.page.evaluate(() => window.localStorage.length), 0);
      // A customer does not manage products.
      await ada.page.getByRole('heading', { level: 1, name: 'Products' }).waitFor();
      assert.equal(await ada.page.getByRole('button', { name: 'New product' }).count(), 0);

      // Buy and pay.
      const keyboard = ada.page.getByRole('article', { name: 'Keyboard', exact: true });
      await keyboard.getByLabel('Quantity').fill('2');
      await keyboard.getByRole('button', { name: 'Add to cart' }).click();
      await toasts(ada.page).getByText(/Added 2 × Keyboard to your cart/).waitFor();
      await openTab(ada.page, 'Cart');
      await ada.page.getByRole('button', { name: 'Checkout' }).click();
      const placed = ada.page.getByRole('region', { name: /^Order #\d+ placed$/ });
      await placed.waitFor();
      const orderId = Number((await placed.getByRole('heading').textContent()).match(/#(\d+)/)[1]);
      await placed.getByRole('button', { name: `View order #${orderId}` }).click();
      const details = ada.page.getByRole('article', { name: `Order #${orderId}` });
      await details.getByRole('button', { name: /^Pay / }).click();
      await details.locator('.badge-paid').waitFor();
      // A customer may not move a paid order on.
      assert.equal(await details.getByRole('button', { name: 'Start processing' }).count(), 0);
      // Ada's cart holds something again, for Bob to try to see.
      await openTab(ada.page, 'Products');
      await keyboard.getByRole('button', { name: 'Add to cart' }).click();
      await toasts(ada.page).getByText(/Added 1 × Keyboard to your cart/).waitFor();

      // Bob: not Ada's order, not even by its URL; not her cart.
      await register(bob.page, 'Bob', `bob${suffix}@example.com`);
      await bob.page.goto(`/orders/${orderId}`);
      await bob.page.getByRole('heading', { name: 'Your orders' }).waitFor();
      await bob.page.getByText(`Could not load order #${orderId}`).waitFor();
      assert.equal(await bob.page.getByRole('article', { name: `Order #${orderId}` }).count(), 0);
      assert.equal(await fetchStatus(bob.page, 'GET', `/order/orders/${orderId}`), 404);
      assert.equal(await fetchStatus(bob.page, 'GET', `/cart/cart/${encodeURIComponent(me.id)}`), 403);
      assert.equal(
        await fetchStatus(bob.page, 'DELETE', `/cart/cart/${encodeURIComponent(me.id)}`),
        403,
      );

      // Staff see every order and move Ada's on.
      await signIn(staff.page, STAFF);
      await openTab(staff.page, 'Orders');
      await staff.page.getByRole('heading', { name: 'All orders' }).waitFor();
      await staff.page.getByRole('table').getByRole('link', { name: `#${orderId}`, exact: true }).click();
      const staffDetails = staff.page.getByRole('article', { name: `Order #${orderId}` });
      await staffDetails.getByRole('button', { name: 'Start processing' }).click();
      await staffDetails.locator('.badge-processing').waitFor();
      // Ada sees it move (her own live feed).
      await openTab(ada.page, 'Orders');
      await ada.page
        .getByRole('button', { name: new RegExp(`^Order #${orderId}\\b`) })
        .locator('.badge-processing')
        .waitFor();

      // Sign-out ends access: the old cookie is refused.
      const oldCookie = (await ada.context.cookies()).find((c) => c.name === 'shop_session');
      await ada.page.getByRole('button', { name: 'Sign out' }).click();
      await ada.page.getByRole('banner').getByRole('button', { name: 'Sign in' }).waitFor();
      assert.equal((await ada.context.cookies()).some((c) => c.name === 'shop_session'), false);
      const replay = await fetch(`${shop.url}/api/cart/cart/${encodeURIComponent(me.id)}`, {
        headers: { cookie: `shop_session=${oldCookie.value}` },
      });
      assert.equal(replay.status, 401);
      assert.equal(await fetchStatus(ada.page, 'GET', `/order/orders/${orderId}`), 401);

      for (const { problems } of [ada, bob, staff]) assert.deepEqual(problems, []);
    } finally {
      await ada.context.close();
      await bob.context.close();
      await staff.context.close();
    }
  });

  test("another site's form post changes nothing (CSRF)", async () => {
    const suffix = Math.floor(Math.random() * 1e9);
    const victim = await openDashboard(browser, shop.url, { viewport: DESKTOP, path: '/' });
    // The attacker's page, on another site (localhost, not 127.0.0.1).
    const evil = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>Win a prize</title>
        <form method="POST" action="${victim.target}" enctype="text/plain">
          <input name='{"product_id": 1, "quantity": 5, "x": "' value='"}'>
        </form>
        <script>document.forms[0].submit()</script>`);
    });
    try {
      await register(victim.page, 'Vic', `vic${suffix}@example.com`);
      const me = (await whoAmI(victim.page)).account;
      victim.target = `${shop.url}/api/cart/cart/${encodeURIComponent(me.id)}/items`;
      await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
      const evilUrl = `http://localhost:${evil.address().port}/`;
      const attack = await victim.context.newPage();
      const posted = attack.waitForResponse((r) => r.url() === victim.target);
      await attack.goto(evilUrl);
      const response = await posted;
      // SameSite=Strict keeps the cookie home (401: nobody signed in); were
      // it sent, the origin check would refuse it (403).
      assert.ok([401, 403].includes(response.status()), String(response.status()));
      await attack.close();
      const cart = await victim.page.evaluate(
        async (id) => (await fetch(`/api/cart/cart/${encodeURIComponent(id)}`)).json(),
        me.id,
      );
      assert.deepEqual(cart.items, []);
    } finally {
      evil.close();
      await victim.context.close();
    }
  });

  test('the sign-in, register and staff pages pass axe; screenshots at phone and desktop', async () => {
    for (const [size, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      const { page, context, problems } = await openDashboard(browser, shop.url, {
        viewport,
        path: '/signin',
      });
      try {
        await page.getByRole('form', { name: 'Sign in to Shop' }).waitFor();
        await checkAndShoot(page, 'signin', size);
        await page.getByRole('button', { name: 'Create an account' }).click();
        await page.getByRole('form', { name: 'Create an account' }).waitFor();
        await checkAndShoot(page, 'register', size);
        await signIn(page, STAFF);
        await openTab(page, 'Orders');
        await page.getByRole('heading', { name: 'All orders' }).waitFor();
        await checkAndShoot(page, 'staff-orders', size);
        await page.getByRole('table').getByRole('link').first().click();
        await page.getByRole('button', { name: /^Cancel (order|and refund)$/ }).waitFor();
        await checkAndShoot(page, 'staff-order', size);
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    }
  });
});
