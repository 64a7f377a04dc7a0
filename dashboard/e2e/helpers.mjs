// Shared by the end-to-end tests: a fresh `shop up` per test file, Debian's
// Chromium through playwright-core, and polling with deadlines.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The dashboard/ folder. */
export const dashboardDir = path.resolve(here, '..');
export const screenshotDir = path.join(dashboardDir, 'screenshots');

/** The `shop` binary: $SHOP_BIN, else ../target/debug/shop from dashboard/. */
export const shopBin = path.resolve(
  dashboardDir,
  process.env.SHOP_BIN ?? path.join('..', 'target', 'debug', 'shop'),
);

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** Retries `check` (which throws or returns false while not yet true) until
 * it passes or `ms` have gone by; returns its last value. */
export async function until(check, { ms = 10_000, every = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined && value !== null) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError ? `: ${lastError.message ?? lastError}` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/**
 * Starts `shop up` on free ports with a fresh data directory (and `env` over
 * the process's environment): the seed's open API (`--no-auth`, a user
 * switcher in the dashboard) unless `auth` is true; `seed: { orders,
 * products }` runs `shop seed` on the directory first. Resolves when
 * it printed its gateway URL and the gateway serves the dashboard.
 */
export async function startShop({
  paymentSuccessRate = 1,
  startMs = 30_000,
  env = {},
  auth = false,
  seed = null,
} = {}) {
  if (!existsSync(shopBin)) {
    throw new Error(
      `no shop binary at ${shopBin}: run \`cargo build -p shop\` in the repository (or set SHOP_BIN)`,
    );
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'shop-e2e-'));
  if (seed) {
    // `shop seed` fills the data directory before the shop starts on it.
    const args = ['seed', '--data-dir', dataDir, '--orders', String(seed.orders)];
    args.push('--products', String(seed.products ?? 200));
    const result = spawnSync(shopBin, args, { encoding: 'utf8', timeout: 300_000 });
    if (result.status !== 0) {
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`shop seed failed (${result.status}): ${result.stderr.slice(-2000)}`);
    }
  }
  const child = spawn(
    shopBin,
    [
      'up',
      ...(auth ? [] : ['--no-auth']),
      '--data-dir',
      dataDir,
      '--gateway-port',
      '0',
      '--catalog-port',
      '0',
      '--cart-port',
      '0',
      '--order-port',
      '0',
      '--payment-port',
      '0',
      '--identity-port',
      '0',
    ],
    {
      env: {
        ...process.env,
        PAYMENT_SUCCESS_RATE: String(paymentSuccessRate),
        RUST_LOG: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => {
    // Keep the tail only: enough to explain a failure.
    stderr = (stderr + chunk).slice(-20_000);
  });
  let exited = null;
  const exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );

  const stop = async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const url = await until(
      () => {
        if (exited) {
          throw new Error(`shop up exited (${JSON.stringify(exited)}): ${stderr.slice(-2000)}`);
        }
        const line = stdout.split('\n').find((l) => l.trim().startsWith('gateway'));
        const match = line?.match(/https?:\/\/[^\s/]+/);
        return match && stdout.includes('Press Ctrl+C') ? match[0] : false;
      },
      { ms: startMs, what: 'shop up to print its gateway URL' },
    );
    const html = await until(
      async () => {
        const res = await fetch(`${url}/`);
        const text = await res.text();
        return res.ok ? text : false;
      },
      { ms: 10_000, what: `the gateway at ${url} to serve the dashboard` },
    ).catch(async (err) => {
      const res = await fetch(`${url}/`).catch(() => null);
      const body = res ? (await res.text()).slice(0, 300) : '(no answer)';
      throw new Error(
        `${err.message}. GET / answered: ${body}\n` +
          'Build the dashboard (npm run build) and then the binary (cargo build -p shop).',
      );
    });
    if (!html.includes('id="root"')) {
      throw new Error(`GET / at ${url} is not the dashboard: ${html.slice(0, 300)}`);
    }
    return { url, stop, logs: () => stderr };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Calls the API through the gateway; throws with the detail on an error. */
export async function api(base, method, apiPath, body) {
  const res = await fetch(`${base}/api${apiPath}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${apiPath}: ${res.status} ${text}`);
  return json;
}

export async function launchBrowser() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

/**
 * A page of the dashboard as `userId` (set in localStorage before the app
 * starts). Page errors and failed console messages are collected so tests
 * can assert there were none.
 */
export async function openDashboard(browser, baseUrl, { userId, viewport = DESKTOP, path: at = '/' } = {}) {
  const context = await browser.newContext({ viewport, baseURL: baseUrl });
  if (userId) {
    await context.addInitScript((id) => {
      if (!window.localStorage.getItem('userId')) window.localStorage.setItem('userId', id);
    }, userId);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // The browser logs every 4xx answer; those the tests cause on purpose
    // (a declined payment) are shown in the page, not problems.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  await page.goto(at);
  return { context, page, problems };
}

/** Signs in through the dashboard's form and waits for the account. */
export async function signIn(page, { email, password }) {
  await page.goto('/signin');
  const form = page.getByRole('form', { name: 'Sign in to Shop' });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('account-name').waitFor();
}

/** The toasts of the page (short notes that an action worked). */
export function toasts(page) {
  return page.getByRole('region', { name: 'Notifications' });
}

/** Answers the open confirmation dialog `title` with the button `choice`. */
export async function confirmDialog(page, title, choice) {
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.getByRole('button', { name: choice, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

/** Clicks a tab of the top navigation and waits for its heading. */
export async function openTab(page, label) {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: label }).click();
  await page.getByRole('heading', { level: 1, name: label }).waitFor();
}

export function ensureScreenshotDir() {
  mkdirSync(screenshotDir, { recursive: true });
  return screenshotDir;
}

/** Runs axe on the page (no violation may be found, whatever its impact)
 * and writes its screenshot to screenshots/<name>-<device>.png. */
export async function checkAndShoot(page, name, device) {
  const results = await new AxeBuilder({ page }).analyze();
  const violations = results.violations;
  const report = violations
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(' ')).join('\n  ')}`)
    .join('\n');
  const file = path.join(ensureScreenshotDir(), `${name}-${device}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  assert.equal(violations.length, 0, `axe on ${name} (${device}):\n${report}`);
}

/** A user id of its own for each test. */
export function uniqueUser(prefix = 'e2e') {
  return `${prefix}${Math.floor(Math.random() * 1e9)}`;
}
