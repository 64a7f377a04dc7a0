// The staff console on a shop of 10,000 orders (filled by `shop seed`):
// page to the last page, filter with the filters kept in the address, search
// by order id, refund a paid order from its page; axe on every page and
// screenshots at phone and desktop size.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  checkAndShoot,
  DESKTOP,
  launchBrowser,
  openDashboard,
  openTab,
  PHONE,
  startShop,
  until,
  toasts,
  confirmDialog,
  signIn,
} from './helpers.mjs';

const STAFF = { email: 'admin@shop.local', password: 'staff passphrase 1' };
const ORDERS = 10_000;

let shop;
let browser;
/** The API as staff, with a bearer token from the identity service. */
let staffApi;

before(async () => {
  shop = await startShop({
    auth: true,
    env: { SHOP_ADMIN_PASSWORD: STAFF.password },
    seed: { orders: ORDERS, products: 200 },
    startMs: 60_000,
  });
  browser = await launchBrowser();
  const login = await fetch(`${shop.url}/api/identity/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(STAFF),
  });
  assert.equal(login.status, 200, await login.clone().text());
  const { access_token: token } = await login.json();
  staffApi = async (method, apiPath, body) => {
    const res = await fetch(`${shop.url}/api${apiPath}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${apiPath}: ${res.status} ${text}`);
    return { body: JSON.parse(text), headers: res.headers };
  };
});

after(async () => {
  await browser?.close();
  await shop?.stop();
});

const count = new Intl.NumberFormat('en-US');

/** The ids of the rows the orders table shows. */
async function shownIds(page) {
  const links = await page.getByRole('table').getByRole('link').allTextContents();
  return links.map((text) => Number(text.replace('#', '')));
}

describe('the staff console', () => {
  test('pages to the last of 10,000 orders, filters, finds an order by id and refunds it', async () => {
    const { page, context, problems } = await openDashboard(browser, shop.url, { viewport: DESKTOP });
    try {
      await signIn(page, STAFF);
      await openTab(page, 'Orders');
      const range = page.getByTestId('orders-range');
      await range.filter({ hasText: `1–50 of ${count.format(ORDERS)}` }).waitFor();
      const newest = (await staffApi('GET', '/order/orders?limit=1')).body[0].id;
      assert.equal((await shownIds(page))[0], newest);
      await checkAndShoot(page, 'console-orders', 'desktop');

      // The last page: the oldest 50, reached in one step.
      await page.getByRole('button', { name: 'Last' }).click();
      await range.filter({ hasText: `9,951–10,000 of ${count.format(ORDERS)}` }).waitFor();
      const oldest = (await staffApi('GET', '/order/orders?order=asc&limit=1')).body[0].id;
      assert.equal((await shownIds(page)).at(-1), oldest);
      await page.getByRole('button', { name: 'Previous' }).click();
      await range.filter({ hasText: '9,901–9,950 of' }).waitFor();

      // A filter: delivered orders only, counted by the API; kept in the
      // address.
      await page.getByLabel('Status').selectOption('delivered');
      const delivered = Number(
        (await staffApi('GET', '/order/orders?status=delivered&limit=1&count=true')).headers.get(
          'x-total-count',
        ),
      );
      assert.ok(delivered > 100, `${delivered} delivered orders`);
      const all = count.format(delivered);
      await range.filter({ hasText: `1–50 of ${all}` }).waitFor();
      const badges = await page.getByRole('table').locator('.badge').allTextContents();
      assert.deepEqual([...new Set(badges)], ['delivered']);
      assert.match(page.url(), /[?&]status=delivered\b/);
      await page.getByRole('button', { name: 'Next' }).click();
      await range.filter({ hasText: `51–100 of ${all}` }).waitFor();
      // The deep link shows the same page after a reload.
      const firstOfPage = (await shownIds(page))[0];
      await page.reload();
      await range.filter({ hasText: `51–100 of ${all}` }).waitFor();
      assert.equal((await shownIds(page))[0], firstOfPage);
      assert.equal(await page.getByLabel('Status').inputValue(), 'delivered');

      // Search a paid order by id, then open its page.
      const target = (await staffApi('GET', '/order/orders?status=paid&limit=1')).body[0];
      await page.getByLabel('Order id or customer').fill(`#${target.id}`);
      await page.getByLabel('Order id or customer').press('Enter');
      await range.filter({ hasText: '1–1 of 1' }).waitFor();
      assert.deepEqual(await shownIds(page), [target.id]);
      await page.getByRole('table').getByRole('link', { name: `#${target.id}` }).click();
      const details = page.getByRole('article', { name: `Order #${target.id}` });
      await details.waitFor();
      assert.equal(new URL(page.url()).pathname, `/orders/${target.id}`);
      await details.getByText('success').waitFor();
      await checkAndShoot(page, 'console-order', 'desktop');

      // Refund it from its page.
      await details.getByRole('button', { name: 'Cancel and refund' }).click();
      const dialog = page.getByRole('dialog', { name: `Cancel order #${target.id}?` });
      await dialog.getByText(/refunded in full/).waitFor();
      await checkAndShoot(page, 'console-confirm', 'desktop');
      await confirmDialog(page, `Cancel order #${target.id}?`, 'Cancel and refund');
      await toasts(page).getByText(`Order #${target.id} is cancelled;`, { exact: false }).waitFor();
      await details.getByTestId('refund').filter({ hasText: /^Refunded / }).waitFor();
      await details.getByRole('region', { name: 'Events' }).getByText('Order refunded').waitFor();
      const stored = (await staffApi('GET', `/order/orders/${target.id}`)).body;
      assert.equal(stored.status, 'cancelled');
      assert.equal(stored.refund_status, 'refunded');

      // Back to the table as it was left.
      await page.getByRole('link', { name: '← All orders' }).click();
      await range.filter({ hasText: '1–1 of 1' }).waitFor();
      await page.getByRole('table').locator('.badge-cancelled').waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the dashboard shows the figures of the last 30 days and draws their chart', async () => {
    for (const [size, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      const { page, context, problems } = await openDashboard(browser, shop.url, { viewport });
      try {
        await signIn(page, STAFF);
        await openTab(page, 'Dashboard');
        const stats = (await staffApi('GET', '/order/stats')).body;
        assert.ok(stats.orders > 100, `${stats.orders} orders in 30 days`);
        await page.getByTestId('stat-orders').filter({ hasText: count.format(stats.orders) }).waitFor();
        const revenue = await page.getByTestId('stat-revenue').textContent();
        assert.equal(revenue, `$${stats.revenue.toLocaleString('en-US', { minimumFractionDigits: 2 })}`);
        const products = (await staffApi('GET', '/catalog/products?limit=1&count=true')).headers;
        const catalog = Number(products.get('x-total-count'));
        assert.ok(catalog >= 200, `${catalog} products`);
        await page.getByTestId('stat-products').filter({ hasText: String(catalog) }).waitFor();
        // The chart is drawn: its canvas holds coloured pixels.
        const canvas = page.getByTestId('revenue-chart').locator('canvas');
        const painted = await until(
          () =>
            canvas.evaluate((c) => {
              const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
              let coloured = 0;
              for (let i = 3; i < data.length; i += 4) if (data[i] > 0) coloured += 1;
              return coloured > 1000 ? coloured : false;
            }),
          { what: 'the chart to be drawn' },
        );
        assert.ok(painted > 1000);
        // The feed starts with the latest events (the refund above, if any,
        // or none from the seeded history), then follows the stream.
        await page.getByText('Live updates').waitFor();
        await checkAndShoot(page, 'console-dashboard', size);
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    }
  });

  test('the console on a phone passes axe', async () => {
    const { page, context, problems } = await openDashboard(browser, shop.url, { viewport: PHONE });
    try {
      await signIn(page, STAFF);
      await page.goto('/orders?status=delivered&sort=total');
      await page
        .getByTestId('orders-range')
        .filter({ hasText: /^1–50 of / })
        .waitFor();
      const totals = await until(async () => {
        const cells = await page.getByRole('table').locator('td.num:nth-child(4)').allTextContents();
        return cells.length === 50 ? cells : false;
      });
      const cents = totals.map((t) => Math.round(Number(t.replace(/[^0-9.]/g, '')) * 100));
      assert.deepEqual(cents, [...cents].sort((a, b) => b - a), 'largest total first');
      await checkAndShoot(page, 'console-orders', 'phone');
      await page.getByRole('table').getByRole('link').first().click();
      await page.getByRole('heading', { name: /^Order #\d+$/ }).waitFor();
      await checkAndShoot(page, 'console-order', 'phone');
      // An address that names nothing says so.
      await page.goto('/orders/12/payments');
      await page.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor();
      await page.getByText('/orders/12/payments').waitFor();
      await checkAndShoot(page, 'not-found', 'phone');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
