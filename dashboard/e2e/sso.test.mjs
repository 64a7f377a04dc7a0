// Single sign-on in Chromium: a shop whose gateway signs browsers in
// through an OpenID Connect provider (this test's own, in-process: a
// discovery document, an RSA key set, a sign-in page with one button, and
// a token endpoint that checks the code, the client's secret and the PKCE
// verifier). The person clicks "Sign in with single sign-on", signs in at
// the provider and lands back in the dashboard signed in, as staff when
// the provider says so, with only the HttpOnly session cookie; sign-out
// ends it.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { launchBrowser, openDashboard, openTab, startShop } from './helpers.mjs';

const CLIENT_ID = 'shop-dashboard';
const CLIENT_SECRET = 'the gateway secret';
const STAFF_ROLE = 'shop-staff';
const USER = { sub: 'kc-grace', email: 'grace@example.com', name: 'Grace Hopper', roles: [STAFF_ROLE] };

const b64url = (data) => Buffer.from(data).toString('base64url');

/** The provider: its URL, and what it was asked. */
async function startProvider() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' };
  const codes = new Map();
  const seen = { tokenRequests: 0, refused: [] };
  let issuer = '';
  const jwt = (claims) => {
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'rsa-1' }));
    const body = b64url(JSON.stringify(claims));
    const signature = sign('RSA-SHA256', Buffer.from(`${head}.${body}`), privateKey);
    return `${head}.${body}.${b64url(signature)}`;
  };
  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, issuer);
    const at = url.pathname.replace('/realms/shop', '');
    if (at === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/certs`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (at === '/certs') return json(res, 200, { keys: [jwk] });
    if (at === '/auth' && req.method === 'GET') {
      // The provider's sign-in page: one button, posting the request on.
      const fields = [...url.searchParams]
        .map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, '&quot;')}">`)
        .join('');
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(
        `<!doctype html><title>Example SSO</title><form method="post" action="${issuer}/auth">` +
          `${fields}<button>Continue as ${USER.name}</button></form>`,
      );
    }
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    if (at === '/auth' && req.method === 'POST') {
      if (form.get('client_id') !== CLIENT_ID || form.get('code_challenge_method') !== 'S256') {
        return json(res, 400, { error: 'invalid_request' });
      }
      const code = b64url(randomBytes(16));
      codes.set(code, {
        redirect: form.get('redirect_uri'),
        challenge: form.get('code_challenge'),
        nonce: form.get('nonce'),
      });
      const back = new URL(form.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', form.get('state'));
      res.writeHead(303, { location: back.toString() });
      return res.end();
    }
    if (at === '/token' && req.method === 'POST') {
      seen.tokenRequests += 1;
      const basic = `Basic ${Buffer.from(
        `${encodeURIComponent(CLIENT_ID)}:${new URLSearchParams({ s: CLIENT_SECRET }).toString().slice(2)}`,
      ).toString('base64')}`;
      const grant = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const verified = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
      if (req.headers.authorization !== basic || !grant || grant.redirect !== form.get('redirect_uri') || verified !== grant.challenge) {
        seen.refused.push(form.get('code'));
        return json(res, 400, { error: 'invalid_grant' });
      }
      const now = Math.floor(Date.now() / 1000);
      const common = { iss: issuer, sub: USER.sub, iat: now, exp: now + 300, email: USER.email, name: USER.name };
      return json(res, 200, {
        token_type: 'Bearer',
        expires_in: 300,
        access_token: jwt({ ...common, aud: CLIENT_ID, azp: CLIENT_ID, realm_access: { roles: USER.roles } }),
        id_token: jwt({ ...common, aud: CLIENT_ID, nonce: grant.nonce }),
      });
    }
    json(res, 404, { error: 'not_found' });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${server.address().port}/realms/shop`;
  return { issuer, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

let provider;
let shop;
let browser;

before(async () => {
  provider = await startProvider();
  shop = await startShop({
    auth: true,
    env: {
      SHOP_ADMIN_PASSWORD: 'staff passphrase 1',
      OIDC_ISSUER: provider.issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_ROLE_CLAIM: 'realm_access.roles',
      OIDC_STAFF_ROLE: STAFF_ROLE,
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await shop?.stop();
  await provider?.close();
});

test('a person signs in through the provider, as staff, and out again', async () => {
  const { context, page, problems } = await openDashboard(browser, shop.url, { path: '/signin' });
  try {
    await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
    // The provider's page, on its own origin.
    await page.getByRole('button', { name: `Continue as ${USER.name}` }).click();
    // Back in the dashboard, signed in.
    await page.getByTestId('account-name').filter({ hasText: USER.name }).waitFor();
    assert.equal(new URL(page.url()).origin, shop.url);
    const me = await page.evaluate(async () => (await fetch('/api/session')).json());
    assert.equal(me.account.id, USER.sub);
    assert.equal(me.account.role, 'staff');
    // Staff manage products.
    await openTab(page, 'Products');
    await page.getByRole('button', { name: 'New product' }).waitFor();
    // Only the session cookie: HttpOnly, nothing in the page's reach.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'shop_session');
    assert.ok(session, JSON.stringify(cookies));
    assert.equal(session.httpOnly, true);
    assert.equal(await page.evaluate(() => document.cookie), '');
    assert.equal(await page.evaluate(() => window.localStorage.length), 0);
    assert.equal(provider.seen.tokenRequests, 1);
    assert.deepEqual(provider.seen.refused, []);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).first().waitFor();
    assert.equal((await context.cookies()).some((c) => c.name === 'shop_session'), false);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
