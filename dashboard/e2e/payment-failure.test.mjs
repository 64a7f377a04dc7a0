// A declined payment (PAYMENT_SUCCESS_RATE=0): the page shows the failure,
// the order stays pending and can be paid again.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, launchBrowser, openDashboard, PHONE, startShop, uniqueUser } from './helpers.mjs';

let shop;
let browser;

before(async () => {
  shop = await startShop({ paymentSuccessRate: 0 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await shop?.stop();
});

test('a declined payment is shown and the order stays pending', async () => {
  const userId = uniqueUser('declined');
  await api(shop.url, 'POST', `/cart/cart/${userId}/items`, { product_id: 2, quantity: 1 });
  const { page, context, problems } = await openDashboard(browser, shop.url, {
    userId,
    viewport: PHONE,
    path: '/cart',
  });
  try {
    await page.getByRole('listitem', { name: 'Mouse' }).waitFor();
    await page.getByRole('button', { name: 'Checkout' }).click();
    const placed = page.getByRole('region', { name: /^Order #\d+ placed$/ });
    await placed.waitFor();
    const orderId = Number((await placed.getByRole('heading').textContent()).match(/#(\d+)/)[1]);
    await placed.getByRole('button', { name: `View order #${orderId}` }).click();

    const details = page.getByRole('article', { name: `Order #${orderId}` });
    await details.getByRole('button', { name: 'Pay $29.99' }).click();
    await details.getByRole('alert').filter({ hasText: 'Payment failed' }).waitFor();
    await details.locator('.badge-pending').waitFor();
    await details.getByText('failed', { exact: true }).first().waitFor();

    // It can be retried; it fails again and stays payable.
    await details.getByRole('button', { name: 'Retry payment' }).click();
    await details.getByRole('button', { name: 'Retry payment' }).waitFor();
    await details.getByRole('alert').filter({ hasText: 'Payment failed' }).waitFor();
    await page.waitForFunction(
      (id) =>
        document.querySelectorAll(`[aria-labelledby="payments-${id}"] .payment-failed`).length === 2,
      orderId,
    );
    assert.equal(await details.locator('.badge-pending').count(), 1);

    const stored = await api(shop.url, 'GET', `/order/orders/${orderId}`);
    assert.equal(stored.status, 'pending');
    assert.equal(stored.payment_id, null);
    const attempts = await api(shop.url, 'GET', `/payment/payments?order_id=${orderId}`);
    assert.deepEqual(
      attempts.map((p) => p.status),
      ['failed', 'failed'],
    );
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
