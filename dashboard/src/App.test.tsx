import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from './App';
import { cart, mockFetch, order } from './test/mocks';
import { parseRoute, routePath } from './router';

function routes() {
  return mockFetch({
    'GET /api/catalog/products': { body: [] },
    'GET /api/order/orders': { body: [] },
    'GET /api/order/orders/user/*': ({ path }) => ({
      body: path.endsWith('/alice') ? [order({ id: 5, user_id: 'alice' })] : [],
    }),
    'GET /api/payment/payments': { body: [] },
    'GET /api/cart/cart/*': ({ path }) => ({ body: cart(decodeURIComponent(path.split('/').pop()!), []) }),
  });
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
    const input = screen.getByLabelText('User');
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

  it('shows whether updates are live', () => {
    routes();
    render(<App />);
    expect(screen.getByText('Connecting…')).toBeInTheDocument();
  });
});

describe('routes', () => {
  it('maps paths to tabs and back', () => {
    expect(parseRoute('/')).toEqual({ tab: 'dashboard', orderId: null });
    expect(parseRoute('/products')).toEqual({ tab: 'products', orderId: null });
    expect(parseRoute('/orders/12')).toEqual({ tab: 'orders', orderId: 12 });
    expect(parseRoute('/orders/x')).toEqual({ tab: 'orders', orderId: null });
    expect(parseRoute('/nowhere')).toEqual({ tab: 'dashboard', orderId: null });
    expect(routePath({ tab: 'orders', orderId: 3 })).toBe('/orders/3');
    expect(routePath({ tab: 'cart', orderId: null })).toBe('/cart');
  });
});
