// The live feed across stream lifetimes: the server ends every event stream
// after EVENT_STREAM_MAX_LIFETIME_MS; the browser reconnects with
// Last-Event-ID and the dashboard shows every event, each once.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, launchBrowser, openDashboard, startShop, uniqueUser, until } from './helpers.mjs';

let shop;
let browser;

before(async () => {
  shop = await startShop({ env: { EVENT_STREAM_MAX_LIFETIME_MS: '1500' } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await shop?.stop();
});

test('the live feed misses no event when the server ends its stream', async () => {
  const { page, context, problems } = await openDashboard(browser, shop.url, { path: '/' });
  const streams = [];
  const polls = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname === '/api/order/events/stream') streams.push(request);
    // The feed's backfill (last=true) is no poll.
    if (url.pathname === '/api/order/events' && url.searchParams.has('after')) polls.push(request);
  });
  try {
    await page.getByRole('heading', { name: 'Live order events' }).waitFor();
    await page.getByText('Waiting for order events').waitFor();
    const placed = [];
    // Three orders per stream, over four streams: each ended by the server.
    for (let round = 0; round < 4; round += 1) {
      const opened = streams.length;
      for (let i = 0; i < 3; i += 1) {
        const userId = uniqueUser('stream');
        await api(shop.url, 'POST', `/cart/cart/${userId}/items`, { product_id: 2, quantity: 1 });
        const order = await api(shop.url, 'POST', '/order/orders', { user_id: userId });
        placed.push(order.id);
      }
      await until(() => streams.length > opened, {
        ms: 15_000,
        what: 'the browser to reconnect after the server ended its stream',
      });
    }
    const shown = await until(
      async () => {
        const texts = await page.locator('.feed-item .feed-text').allTextContents();
        return texts.length >= placed.length ? texts : false;
      },
      { ms: 10_000, what: `${placed.length} events in the live feed` },
    );
    const ids = shown.map((text) => Number(text.match(/^Order #(\d+)/)[1]));
    // Newest first, each order's event exactly once.
    assert.deepEqual(ids, [...placed].reverse());
    assert.ok(streams.length >= 4, `${streams.length} reconnections`);
    // Resumed by the stream itself, not by the polling fallback.
    assert.equal(polls.length, 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
