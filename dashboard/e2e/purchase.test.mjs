// A customer's purchase through the dashboard, against the real services
// (PAYMENT_SUCCESS_RATE=1): browse and search, fill the cart, change a
// quantity, check out, pay; cancelling gives the stock back; orders placed
// elsewhere appear without a reload, over the event stream and, when the
// stream is unavailable, by polling.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  api,
  DESKTOP,
  launchBrowser,
  openDashboard,
  openTab,
  PHONE,
  startShop,
  uniqueUser,
  until,
  toasts,
  confirmDialog,
} from './helpers.mjs';

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

/** The product card of `name` on the Products tab. */
const card = (page, name) => page.getByRole('article', { name, exact: true });

async function addToCart(page, name, quantity) {
  const c = card(page, name);
  await c.getByLabel('Quantity').fill(String(quantity));
  await c.getByRole('button', { name: 'Add to cart' }).click();
  await toasts(page).getByText(`Added ${quantity} × ${name} to your cart`, { exact: false }).last().waitFor();
}

describe('buying through the dashboard', () => {
  test('browse, search, fill the cart, change a quantity, check out and pay', async () => {
    const userId = uniqueUser('buyer');
    const { page, context, problems } = await openDashboard(browser, shop.url, {
      userId,
      viewport: DESKTOP,
      path: '/products',
    });
    try {
      await page.getByRole('heading', { level: 1, name: 'Products' }).waitFor();
      await page.getByText('Live updates').waitFor();
      const cards = page.getByRole('article');
      await until(async () => (await cards.count()) === 4, { what: 'the four sample products' });

      // Search asks the catalog: only the laptop matches "lap".
      await page.getByLabel('Search').fill('lap');
      await until(async () => (await cards.count()) === 1, { what: 'the search to narrow the grid' });
      await card(page, 'Laptop').waitFor();
      await page.getByLabel('Search').fill('');
      await until(async () => (await cards.count()) === 4, { what: 'the full grid again' });
      await page.getByLabel('Category').selectOption('Electronics');
      await until(async () => (await cards.count()) === 4, { what: 'the Electronics category' });

      await addToCart(page, 'Laptop', 1);
      await addToCart(page, 'Mouse', 2);

      await openTab(page, 'Cart');
      const mouse = page.getByRole('listitem', { name: 'Mouse' });
      await mouse.waitFor();
      await page.getByRole('listitem', { name: 'Laptop' }).waitFor();
      const total = page.getByTestId('cart-total');
      await assert.doesNotReject(total.filter({ hasText: '$1,059.97' }).waitFor());

      await mouse.getByLabel('Quantity').fill('3');
      await mouse.getByRole('button', { name: 'Update' }).click();
      await total.filter({ hasText: '$1,089.96' }).waitFor();
      await mouse.getByText('$89.97').waitFor();

      await page.getByRole('button', { name: 'Checkout' }).click();
      const placed = page.getByRole('region', { name: /^Order #\d+ placed$/ });
      await placed.waitFor();
      const title = await placed.getByRole('heading').textContent();
      const orderId = Number(title.match(/#(\d+)/)[1]);
      await page.getByText('Your cart is empty.').waitFor();

      await placed.getByRole('button', { name: `View order #${orderId}` }).click();
      await page.getByRole('heading', { level: 1, name: 'Orders' }).waitFor();
      const details = page.getByRole('article', { name: `Order #${orderId}` });
      await details.getByTestId('order-total').filter({ hasText: '$1,089.96' }).waitFor();
      // Unpaid, it says by when it must be paid (ORDER_PAYMENT_TIMEOUT, 30 minutes).
      await details.getByTestId('expires').filter({ hasText: 'Unpaid orders expire: pay by' }).waitFor();
      await details.getByRole('button', { name: 'Pay $1,089.96' }).click();
      await details.locator('.badge-paid').waitFor();
      await details.getByText('success', { exact: true }).waitFor();
      await details.getByRole('button', { name: 'Start processing' }).waitFor();
      assert.equal(await details.getByRole('button', { name: /^Pay/ }).count(), 0);
      assert.equal(await details.getByTestId('expires').count(), 0, 'a paid order does not expire');

      const stored = await api(shop.url, 'GET', `/order/orders/${orderId}`);
      assert.equal(stored.status, 'paid');
      assert.equal(stored.total_amount, 1089.96);
      assert.deepEqual(
        stored.items.map((i) => [i.product_name, i.quantity]).sort(),
        [
          ['Laptop', 1],
          ['Mouse', 3],
        ],
      );
      // The list shows it paid too, newest first.
      const firstRow = page.getByRole('button', { name: /^Order #/ }).first();
      await firstRow.filter({ hasText: `Order #${orderId}` }).locator('.badge-paid').waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('cancelling an order gives its stock back in the Products tab', async () => {
    const userId = uniqueUser('canceller');
    const { page, context, problems } = await openDashboard(browser, shop.url, {
      userId,
      viewport: PHONE,
      path: '/products',
    });
    try {
      const keyboard = card(page, 'Keyboard');
      const stockBefore = Number(
        (await keyboard.getByTestId('stock').textContent()).match(/(\d+) in stock/)[1],
      );
      await addToCart(page, 'Keyboard', 5);
      await openTab(page, 'Cart');
      await page.getByRole('listitem', { name: 'Keyboard' }).waitFor();
      await page.getByRole('button', { name: 'Checkout' }).click();
      const placed = page.getByRole('region', { name: /^Order #\d+ placed$/ });
      await placed.waitFor();
      const orderId = Number((await placed.getByRole('heading').textContent()).match(/#(\d+)/)[1]);

      await openTab(page, 'Products');
      await keyboard.getByText(`${stockBefore - 5} in stock`).waitFor();

      await openTab(page, 'Orders');
      await page.getByRole('button', { name: new RegExp(`^Order #${orderId}\\b`) }).click();
      const details = page.getByRole('article', { name: `Order #${orderId}` });
      await details.getByRole('button', { name: 'Cancel order' }).click();
      await confirmDialog(page, `Cancel order #${orderId}?`, 'Cancel order');
      await details.locator('.badge-cancelled').waitFor();
      await toasts(page).getByText(`Order #${orderId} is cancelled.`).waitFor();
      assert.equal(await details.getByRole('button').count(), 0, 'a cancelled order offers no action');

      await openTab(page, 'Products');
      await keyboard.getByText(`${stockBefore} in stock`).waitFor();
      const product = await api(shop.url, 'GET', '/catalog/products/3');
      assert.equal(product.stock, stockBefore);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a stock conflict at checkout is shown on its item', async () => {
    const userId = uniqueUser('latecomer');
    const { page, context, problems } = await openDashboard(browser, shop.url, {
      userId,
      viewport: PHONE,
      path: '/products',
    });
    try {
      await addToCart(page, 'Monitor', 2);
      // Meanwhile the stock drops to one.
      await api(shop.url, 'PUT', '/catalog/products/4', { stock: 1 });
      await openTab(page, 'Cart');
      const monitor = page.getByRole('listitem', { name: 'Monitor' });
      await monitor.waitFor();
      await page.getByRole('button', { name: 'Checkout' }).click();
      await monitor.getByRole('alert').filter({ hasText: /Insufficient stock/ }).waitFor();
      assert.equal(await page.getByRole('region', { name: /placed$/ }).count(), 0);

      await monitor.getByLabel('Quantity').fill('1');
      await monitor.getByRole('button', { name: 'Update' }).click();
      await page.getByTestId('cart-total').filter({ hasText: '$399.99' }).waitFor();
      assert.equal(await monitor.getByRole('alert').count(), 0);
      await page.getByRole('button', { name: 'Checkout' }).click();
      await page.getByRole('region', { name: /^Order #\d+ placed$/ }).waitFor();
      const product = await api(shop.url, 'GET', '/catalog/products/4');
      assert.equal(product.stock, 0);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('an order placed through the API appears without a reload', async () => {
    const userId = uniqueUser('watcher');
    const { page, context, problems } = await openDashboard(browser, shop.url, {
      userId,
      viewport: DESKTOP,
      path: '/orders',
    });
    try {
      await page.getByText('No orders yet. Add products to the cart and check out.').waitFor();
      await page.getByText('Live updates').waitFor();
      await page.evaluate(() => {
        window.__sameDocument = true;
      });

      await api(shop.url, 'POST', `/cart/cart/${userId}/items`, { product_id: 2, quantity: 2 });
      const created = await api(shop.url, 'POST', '/order/orders', { user_id: userId });
      await page
        .getByRole('button', { name: new RegExp(`^Order #${created.id}\\b`) })
        .filter({ hasText: '$59.98' })
        .waitFor();

      await openTab(page, 'Dashboard');
      const feed = page.getByRole('list', { name: 'Order events, newest first' });
      await feed.getByText(`Order #${created.id} · ${userId} · $59.98 · pending`).waitFor();

      // A change made elsewhere while the dashboard is open.
      await api(shop.url, 'PUT', `/order/orders/${created.id}/status`, { status: 'confirmed' });
      await feed.getByText(`Order #${created.id} · ${userId} · $59.98 · pending → confirmed`).waitFor();
      const recent = page.getByRole('table');
      await recent
        .getByRole('row')
        .filter({ hasText: `#${created.id}` })
        .locator('.badge-confirmed')
        .waitFor();

      assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('without the event stream the page polls every 5 seconds', async () => {
    const userId = uniqueUser('poller');
    const context = await browser.newContext({ viewport: DESKTOP, baseURL: shop.url });
    await context.addInitScript((id) => window.localStorage.setItem('userId', id), userId);
    // The stream is unavailable: every attempt to open it fails.
    await context.route('**/api/order/events/stream*', (route) => route.abort());
    const page = await context.newPage();
    try {
      await page.goto('/orders');
      await page.getByText('Refreshing every 5 s').waitFor();
      await page.getByText('No orders yet. Add products to the cart and check out.').waitFor();
      await api(shop.url, 'POST', `/cart/cart/${userId}/items`, { product_id: 2, quantity: 1 });
      const created = await api(shop.url, 'POST', '/order/orders', { user_id: userId });
      await page
        .getByRole('button', { name: new RegExp(`^Order #${created.id}\\b`) })
        .waitFor({ timeout: 12_000 });
    } finally {
      await context.close();
    }
  });
});
