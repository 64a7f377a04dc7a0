// Time to first render of the staff console's orders page, in Chromium,
// signed in as staff: from the start of the navigation to the first moment
// the page shows its rows and "1–50 of N" (a MutationObserver notes it in
// the page, so the figure holds no polling delay of the test driver).
// Used by scripts/bench-console.sh.
//
//   node scripts/console-render.mjs GATEWAY_URL EMAIL PASSWORD [RUNS]
//
// Each view: one cold load (a new browser context: nothing cached), then
// RUNS (default 10) reloads; prints a Markdown table of the cold time and the
// median and worst warm time, and how long the list request took in the
// page (its Resource Timing).

import { DESKTOP, launchBrowser } from '../e2e/helpers.mjs';

const [url, email, password, runsArg] = process.argv.slice(2);
if (!url || !email || !password) {
  console.error('usage: node scripts/console-render.mjs GATEWAY_URL EMAIL PASSWORD [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg ?? 10);

const VIEWS = [
  ['every order, newest first', '/orders'],
  ['the last page', '/orders?last=true'],
  ['delivered, largest total first', '/orders?status=delivered&sort=total'],
  ['one customer', '/orders?q=customer-4242'],
];

/** Notes when the orders table first shows its range and rows. */
function watchFirstRender() {
  const seen = () => {
    const range = document.querySelector('[data-testid="orders-range"]');
    const rows = document.querySelectorAll('.orders-table tbody tr').length;
    return range && / of /.test(range.textContent ?? '') && rows > 0;
  };
  const observer = new MutationObserver(() => {
    if (window.__firstRender === undefined && seen()) {
      window.__firstRender = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document, { subtree: true, childList: true, characterData: true });
}

async function signedInContext(browser) {
  const context = await browser.newContext({ viewport: DESKTOP, baseURL: url });
  await context.addInitScript(watchFirstRender);
  const answer = await context.request.post('/api/session', {
    data: { email, password },
    // The gateway refuses a sign-in that does not say it comes from its page.
    headers: { origin: new URL(url).origin },
  });
  if (!answer.ok()) throw new Error(`sign-in: ${answer.status()} ${await answer.text()}`);
  return context;
}

/** Loads `path` (or reloads) and returns [first render, list request] in ms. */
async function measure(page, path, reload) {
  if (reload) await page.reload();
  else await page.goto(path);
  const rendered = await page.waitForFunction(() => window.__firstRender, null, {
    timeout: 60_000,
  });
  const first = await rendered.jsonValue();
  const api = await page.evaluate(() => {
    const list = performance
      .getEntriesByType('resource')
      .filter((e) => /\/api\/order\/orders(\/user\/[^/?]+|\/\d+)?(\?|$)/.test(e.name));
    return list.length ? list[list.length - 1].duration : NaN;
  });
  return [first, api];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => (Number.isNaN(x) ? '–' : x.toFixed(0));

const browser = await launchBrowser();
try {
  console.log('| view | cold (ms) | warm, median (ms) | warm, worst (ms) | list request, median (ms) |');
  console.log('|---|---|---|---|---|');
  for (const [name, path] of VIEWS) {
    const context = await signedInContext(browser);
    const page = await context.newPage();
    const [cold] = await measure(page, path, false);
    const warm = [];
    const api = [];
    for (let i = 0; i < runs; i += 1) {
      const [first, request] = await measure(page, path, true);
      warm.push(first);
      api.push(request);
    }
    const range = await page.getByTestId('orders-range').textContent();
    console.log(
      `| ${name} (\`${path}\`: ${range}) | ${ms(cold)} | ${ms(median(warm))} | ${ms(Math.max(...warm))} | ${ms(median(api))} |`,
    );
    await context.close();
  }
} finally {
  await browser.close();
}
