// Every tab, on a phone (390x844) and a desktop (1280x800), with real data:
// axe finds no violation (of any impact), and a screenshot of each is
// written to screenshots/<tab>-<phone|desktop>.png for a person to look at.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  api,
  checkAndShoot,
  DESKTOP,
  launchBrowser,
  openDashboard,
  openTab,
  PHONE,
  startShop,
} from './helpers.mjs';

let shop;
let browser;
let pendingOrder;
const USER = 'alice';

async function order(userId, items) {
  for (const [productId, quantity] of items) {
    await api(shop.url, 'POST', `/cart/cart/${userId}/items`, { product_id: productId, quantity });
  }
  return api(shop.url, 'POST', '/order/orders', { user_id: userId });
}

before(async () => {
  shop = await startShop({ paymentSuccessRate: 1 });
  browser = await launchBrowser();
  const beans = await api(shop.url, 'POST', '/catalog/products', {
    name: 'Espresso beans',
    description: 'Single-origin, roasted this week, 1 kg',
    price: 14.5,
    stock: 40,
    category: 'Groceries',
  });
  const shipped = await order(USER, [[1, 1]]);
  await api(shop.url, 'POST', `/order/orders/${shipped.id}/payment`);
  await api(shop.url, 'PUT', `/order/orders/${shipped.id}/status`, { status: 'processing' });
  await api(shop.url, 'PUT', `/order/orders/${shipped.id}/status`, { status: 'shipped' });
  const paid = await order('bob', [[4, 1]]);
  await api(shop.url, 'POST', `/order/orders/${paid.id}/payment`);
  const cancelled = await order('carol', [[3, 1]]);
  await api(shop.url, 'PUT', `/order/orders/${cancelled.id}/status`, { status: 'cancelled' });
  pendingOrder = await order(USER, [
    [2, 2],
    [beans.id, 1],
  ]);
  await api(shop.url, 'POST', `/cart/cart/${USER}/items`, { product_id: 3, quantity: 2 });
  await api(shop.url, 'POST', `/cart/cart/${USER}/items`, { product_id: beans.id, quantity: 3 });
});

after(async () => {
  await browser?.close();
  await shop?.stop();
});

for (const [device, viewport] of [
  ['phone', PHONE],
  ['desktop', DESKTOP],
]) {
  describe(`every tab on a ${device} (${viewport.width}x${viewport.height})`, () => {
    let session;

    before(async () => {
      session = await openDashboard(browser, shop.url, { userId: USER, viewport, path: '/' });
    });

    after(async () => {
      await session?.context.close();
    });

    test('dashboard', async () => {
      const { page } = session;
      await page.getByTestId('stat-orders').waitFor();
      await page.getByText('Live updates').waitFor();
      // Activity while the page is open fills the live feed.
      const walkIn = await order(`walkin-${device}`, [[2, 1]]);
      await api(shop.url, 'POST', `/order/orders/${walkIn.id}/payment`);
      const feed = page.getByRole('list', { name: 'Order events, newest first' });
      await feed.getByText(`Order #${walkIn.id} · walkin-${device} · $29.99 · paid`).waitFor();
      await page
        .getByRole('table')
        .getByRole('row')
        .filter({ hasText: `#${walkIn.id}` })
        .locator('.badge-paid')
        .waitFor();
      await checkAndShoot(page, 'dashboard', device);
    });

    test('products', async () => {
      const { page } = session;
      await openTab(page, 'Products');
      await page.getByRole('article', { name: 'Espresso beans' }).waitFor();
      await page.getByRole('option', { name: 'Groceries' }).waitFor({ state: 'attached' });
      await page.getByRole('button', { name: 'New product' }).click();
      await page.getByRole('form', { name: 'New product' }).waitFor();
      await checkAndShoot(page, 'products', device);
    });

    test('cart', async () => {
      const { page } = session;
      await openTab(page, 'Cart');
      await page.getByRole('listitem', { name: 'Espresso beans' }).waitFor();
      await page.getByTestId('cart-total').filter({ hasText: '$203.48' }).waitFor();
      await checkAndShoot(page, 'cart', device);
    });

    test('orders', async () => {
      const { page } = session;
      await openTab(page, 'Orders');
      await page.getByRole('button', { name: new RegExp(`^Order #${pendingOrder.id}\\b`) }).click();
      const details = page.getByRole('article', { name: `Order #${pendingOrder.id}` });
      await details.getByText('No payment yet.').waitFor();
      await checkAndShoot(page, 'orders', device);
      assert.deepEqual(session.problems, []);
    });
  });
}
