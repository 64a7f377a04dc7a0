import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from './App';
import { cart, mockFetch, order } from './test/mocks';
import { parseRoute, routePath } from './router';

function routes(extra: Parameters<typeof mockFetch>[0] = {}) {
  return mockFetch({
    'GET /api/session': { body: { auth: false, account: null } },
    'GET /api/catalog/products': { body: [] },
    'GET /api/order/orders': { body: [] },
    'GET /api/order/orders/user/*': ({ path }) => ({
      body: path.endsWith('/alice') ? [order({ id: 5, user_id: 'alice' })] : [],
    }),
    'GET /api/payment/payments': { body: [] },
    'GET /api/cart/cart/*': ({ path }) => ({ body: cart(decodeURIComponent(path.split('/').pop()!), []) }),
    ...extra,
  });
}

function account(role: 'customer' | 'staff' = 'customer') {
  return {
    id: role === 'staff' ? 'staff-1' : 'ada-1',
    email: role === 'staff' ? 'staff@example.com' : 'ada@example.com',
    name: role === 'staff' ? 'Sam Staff' : 'Ada',
    role,
    created_at: '2026-01-01T00:00:00Z',
  };
}

const nav = () => screen.getByRole('navigation', { name: 'Sections' });

describe('App', () => {
  it('has the four tabs and opens the dashboard first', async () => {
    routes();
    render(<App />);
    expect(within(nav()).getAllByRole('link').map((l) => l.textContent)).toEqual([
      'Dashboard',
      'Products',
      'Cart',
      'Orders',
    ]);
    expect(screen.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeInTheDocument();
    expect(within(nav()).getByRole('link', { name: 'Dashboard' })).toHaveAttribute('aria-current', 'page');
    await screen.findByTestId('stat-orders');
  });

  it('says when an address names no page, and leads back', async () => {
    routes();
    window.history.replaceState(null, '', '/ordrs/12');
    const user = userEvent.setup();
    render(<App />);
    expect(await screen.findByRole('heading', { level: 1, name: 'Page not found' })).toBeInTheDocument();
    expect(document.title).toBe('Page not found · Shop');
    expect(await screen.findByText('/ordrs/12')).toBeInTheDocument();
    expect(within(nav()).queryByRole('link', { current: 'page' })).not.toBeInTheDocument();
    await user.click(screen.getByRole('link', { name: 'Go to the dashboard' }));
    expect(window.location.pathname).toBe('/');
    expect(screen.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeInTheDocument();
  });

  it('shows amounts in the shop’s currency', async () => {
    routes({
      'GET /api/session': { body: { auth: false, account: null, currency: 'EUR' } },
      'GET /api/order/orders': { body: [order({ id: 3, total_amount: 1234.5 })] },
    });
    render(<App />);
    expect(await screen.findByText('€1,234.50')).toBeInTheDocument();
  });

  it('moves between tabs with the address bar and back', async () => {
    routes();
    const user = userEvent.setup();
    render(<App />);
    await user.click(within(nav()).getByRole('link', { name: 'Products' }));
    expect(screen.getByRole('heading', { level: 1, name: 'Products' })).toHaveFocus();
    expect(window.location.pathname).toBe('/products');
    await user.click(within(nav()).getByRole('link', { name: 'Cart' }));
    expect(window.location.pathname).toBe('/cart');
    await screen.findByText('Your cart is empty.');
    act(() => {
      window.history.back();
    });
    await screen.findByRole('heading', { level: 1, name: 'Products' });
    expect(document.title).toBe('Products · Shop');
  });

  it('opens an order from its address', async () => {
    window.localStorage.setItem('userId', 'alice');
    window.history.replaceState(null, '', '/orders/5');
    routes();
    render(<App />);
    expect(await screen.findByRole('article', { name: 'Order #5' })).toBeInTheDocument();
  });

  it('creates a user id when none is stored and switches users', async () => {
    const api = routes();
    const user = userEvent.setup();
    window.history.replaceState(null, '', '/cart');
    render(<App />);
    const input = await screen.findByLabelText('User');
    const generated = window.localStorage.getItem('userId');
    expect(generated).toMatch(/^user\d+$/);
    expect(input).toHaveValue(generated);
    await screen.findByText('Your cart is empty.');

    await user.clear(input);
    await user.type(input, 'bob{Enter}');
    expect(window.localStorage.getItem('userId')).toBe('bob');
    await screen.findByRole('heading', { name: 'Cart' });
    await vi.waitFor(() =>
      expect(api.to('GET', '/api/cart/cart/*').map((c) => c.path)).toContain('/api/cart/cart/bob'),
    );

    await user.clear(input);
    await user.click(screen.getByRole('button', { name: 'Switch' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Enter a user id.');
    expect(window.localStorage.getItem('userId')).toBe('bob');

    await user.click(screen.getByRole('button', { name: 'New user' }));
    const fresh = window.localStorage.getItem('userId');
    expect(fresh).toMatch(/^user\d+$/);
    expect(screen.getByLabelText('User')).toHaveValue(fresh);
  });

  it('shows whether updates are live', async () => {
    routes();
    render(<App />);
    expect(await screen.findByText('Connecting…')).toBeInTheDocument();
  });
});

describe('App with accounts (auth on)', () => {
  it('signed out: no user switcher, products to browse, the cart asks to sign in', async () => {
    window.localStorage.clear();
    routes({ 'GET /api/session': { body: { auth: true, account: null } } });
    window.history.replaceState(null, '', '/cart');
    const user = userEvent.setup();
    render(<App />);
    expect(await screen.findByText(/Sign in to see your cart/)).toBeInTheDocument();
    expect(screen.queryByLabelText('User')).not.toBeInTheDocument();
    expect(screen.getByText('Sign in for live updates')).toBeInTheDocument();
    // Nothing of the session, nor a made-up user, in localStorage.
    expect(window.localStorage.length).toBe(0);
    await user.click(within(screen.getByRole('banner')).getByRole('button', { name: 'Sign in' }));
    expect(window.location.pathname).toBe('/signin');
    expect(screen.getByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
  });

  it('signs in, shows the account, and signs out', async () => {
    const api = routes({
      'GET /api/session': { body: { auth: true, account: null } },
      'POST /api/session': [
        { status: 401, body: { detail: 'Invalid email or password' } },
        { status: 429, body: { detail: 'Too many failed logins; try again in 90 s' } },
        { body: { auth: true, account: account() } },
      ],
      'DELETE /api/session': { body: { auth: true, account: null } },
    });
    window.history.replaceState(null, '', '/signin');
    const user = userEvent.setup();
    render(<App />);
    await user.type(await screen.findByLabelText('Email'), 'ada@example.com');
    await user.type(screen.getByLabelText('Password'), 'not it at all');
    const form = screen.getByRole('form', { name: 'Sign in to Shop' });
    const submit = within(form).getByRole('button', { name: 'Sign in' });
    await user.click(submit);
    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong email or password.');
    await user.click(submit);
    expect(await screen.findByRole('alert')).toHaveTextContent('try again in 90 s');
    await user.click(submit);
    expect(await screen.findByTestId('account-name')).toHaveTextContent('Ada');
    expect(window.location.pathname).toBe('/products');
    expect(api.to('POST', '/api/session').at(-1)?.body).toEqual({
      email: 'ada@example.com',
      password: 'not it at all',
    });
    // A customer does not manage products.
    expect(screen.queryByRole('button', { name: 'New product' })).not.toBeInTheDocument();
    expect(window.localStorage.length).toBe(0);

    await user.click(screen.getByRole('button', { name: 'Sign out' }));
    const banner = screen.getByRole('banner');
    expect(await within(banner).findByRole('button', { name: 'Sign in' })).toBeInTheDocument();
    expect(api.to('DELETE', '/api/session')).toHaveLength(1);
  });

  it('a customer sees their own orders; staff see every order and manage products', async () => {
    const api = routes({
      'GET /api/session': { body: { auth: true, account: account('staff') } },
      'GET /api/order/orders': {
        body: [order({ id: 8, user_id: 'someone' })],
        headers: { 'X-Total-Count': '1' },
      },
    });
    window.history.replaceState(null, '', '/orders');
    const user = userEvent.setup();
    render(<App />);
    expect(await screen.findByRole('heading', { name: 'All orders' })).toBeInTheDocument();
    expect(await screen.findByRole('link', { name: '#8' })).toHaveAttribute('href', '/orders/8');
    expect(screen.getByTestId('orders-range')).toHaveTextContent('1–1 of 1');
    expect(api.to('GET', '/api/order/orders/user/*')).toHaveLength(0);
    await user.click(within(nav()).getByRole('link', { name: 'Products' }));
    expect(await screen.findByRole('button', { name: 'New product' })).toBeInTheDocument();
  });

  it('offers single sign-on only when the gateway has a provider', async () => {
    routes({ 'GET /api/session': { body: { auth: true, account: null, provider: true } } });
    window.history.replaceState(null, '', '/signin');
    const { unmount } = render(<App />);
    const link = await screen.findByRole('link', { name: 'Sign in with single sign-on' });
    // A navigation to the gateway, which sends the browser to the provider.
    expect(link).toHaveAttribute('href', '/api/session/oidc');
    unmount();
    routes({ 'GET /api/session': { body: { auth: true, account: null, provider: false } } });
    render(<App />);
    await screen.findByLabelText('Password');
    expect(screen.queryByRole('link', { name: 'Sign in with single sign-on' })).not.toBeInTheDocument();
  });

  it('registers, then signs in', async () => {
    const api = routes({
      'GET /api/session': { body: { auth: true, account: null } },
      'POST /api/identity/auth/register': { status: 201, body: account() },
      'POST /api/session': { body: { auth: true, account: account() } },
    });
    window.history.replaceState(null, '', '/register');
    const user = userEvent.setup();
    render(<App />);
    await screen.findByLabelText('Name');
    await user.type(screen.getByLabelText('Email'), 'ada.example.com');
    await user.type(screen.getByLabelText('Password'), 'short');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    // Every problem at once, each on its field; nothing sent.
    expect(screen.getByText('Enter a name.')).toBeInTheDocument();
    expect(screen.getByText('Enter an email address such as ada@example.com.')).toBeInTheDocument();
    expect(screen.getByText('Choose a password of at least 10 characters.')).toBeInTheDocument();
    expect(screen.getByLabelText('Password')).toHaveAttribute('aria-invalid', 'true');
    expect(api.to('POST', '/api/identity/auth/register')).toHaveLength(0);
    await user.type(screen.getByLabelText('Name'), 'Ada');
    await user.clear(screen.getByLabelText('Email'));
    await user.type(screen.getByLabelText('Email'), 'ada@example.com');
    await user.type(screen.getByLabelText('Password'), ' and longer');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByTestId('account-name')).toHaveTextContent('Ada');
    expect(api.to('POST', '/api/identity/auth/register')[0]?.body).toEqual({
      email: 'ada@example.com',
      password: 'short and longer',
      name: 'Ada',
    });
  });
});

describe('routes', () => {
  it('maps paths to tabs and back', () => {
    expect(parseRoute('/')).toEqual({ tab: 'dashboard', orderId: null });
    expect(parseRoute('/products')).toEqual({ tab: 'products', orderId: null });
    expect(parseRoute('/orders/12', '?x=1')).toEqual({ tab: 'orders', orderId: 12, search: '' });
    expect(parseRoute('/orders/x')).toEqual({ tab: 'notfound', orderId: null });
    expect(parseRoute('/orders/12/x')).toEqual({ tab: 'notfound', orderId: null });
    expect(parseRoute('/orders', '?status=paid')).toEqual({
      tab: 'orders',
      orderId: null,
      search: '?status=paid',
    });
    expect(routePath({ tab: 'orders', orderId: null, search: '?q=bob' })).toBe('/orders?q=bob');
    expect(parseRoute('/nowhere')).toEqual({ tab: 'notfound', orderId: null });
    expect(parseRoute('/signin')).toEqual({ tab: 'signin', orderId: null });
    expect(routePath({ tab: 'register', orderId: null })).toBe('/register');
    expect(routePath({ tab: 'orders', orderId: 3 })).toBe('/orders/3');
    expect(routePath({ tab: 'cart', orderId: null })).toBe('/cart');
  });
});
