import { describe, expect, it, vi } from 'vitest';
import {
  addToCart,
  ApiError,
  clearCart,
  createOrder,
  createProduct,
  eventStreamUrl,
  getCart,
  listOrderPage,
  listEvents,
  listOrders,
  listPayments,
  listProductPage,
  listCategories,
  countProducts,
  listUserOrders,
  newIdempotencyKey,
  payOrder,
  removeFromCart,
  setCartQuantity,
  updateOrderStatus,
  updateProduct,
} from '.';
import { errorMessage } from './http';
import { cart, json, mockFetch, order, payment, product } from '../test/mocks';

describe('catalog calls', () => {
  it('lists products with search and category on the gateway path', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': {
        body: [product()],
        headers: { Link: '<?search=lap&limit=1&after=WzFd>; rel="next"' },
      },
    });
    const page = await listProductPage({ search: ' lap ', category: 'Electronics' }, null, 1);
    expect(page).toEqual({ rows: [product()], next: { after: 'WzFd' }, prev: null, total: null });
    const [call] = api.calls;
    expect(call!.path).toBe('/api/catalog/products');
    expect(call!.query.get('search')).toBe('lap');
    expect(call!.query.get('category')).toBe('Electronics');
    // A search is not counted.
    expect(call!.query.has('count')).toBe(false);
    expect(call!.headers.accept).toBe('application/json');
  });

  it('leaves empty filters out of the query, and counts the catalog', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': { body: [], headers: { 'X-Total-Count': '0' } },
      'GET /api/catalog/categories': { body: ['Books', 'Home'] },
    });
    expect(await countProducts()).toBe(0);
    await listProductPage({ search: '', category: '  ' }, { after: 'WzJd' }, 60);
    expect(api.calls.map((c) => c.url)).toEqual([
      '/api/catalog/products?limit=1&count=true',
      '/api/catalog/products?after=WzJd&limit=60&count=true',
    ]);
    expect(await listCategories()).toEqual(['Books', 'Home']);
  });

  it('creates a product with a JSON body and an idempotency key', async () => {
    const api = mockFetch({ 'POST /api/catalog/products': { status: 201, body: product({ id: 5 }) } });
    const created = await createProduct({ name: 'Pen', price: 1.5, stock: 3 }, 'key-1');
    expect(created.id).toBe(5);
    const [call] = api.calls;
    expect(call!.body).toEqual({ name: 'Pen', price: 1.5, stock: 3 });
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['idempotency-key']).toBe('key-1');
  });

  it('updates price and stock with PUT /products/{id}', async () => {
    const api = mockFetch({ 'PUT /api/catalog/products/3': { body: product({ id: 3, price: 5, stock: 7 }) } });
    const updated = await updateProduct(3, { price: 5, stock: 7 });
    expect(updated.stock).toBe(7);
    expect(api.calls[0]!.body).toEqual({ price: 5, stock: 7 });
  });
});

describe('cart calls', () => {
  it('encodes the user id as one path segment', async () => {
    const api = mockFetch({ 'GET /api/cart/cart/*': { body: cart('a/b#c', []) } });
    await getCart('a/b#c');
    expect(api.calls[0]!.url).toBe('/api/cart/cart/a%2Fb%23c');
  });

  it('adds, sets the quantity with ?quantity=, removes and clears', async () => {
    const api = mockFetch({
      'POST /api/cart/cart/alice/items': { body: { id: 1, quantity: 2 } },
      'PUT /api/cart/cart/alice/items/2': { body: { message: 'Item quantity updated' } },
      'DELETE /api/cart/cart/alice/items/2': { body: { message: 'Item removed from cart' } },
      'DELETE /api/cart/cart/alice': { body: { message: 'Cart cleared' } },
    });
    await addToCart('alice', 2, 2);
    await setCartQuantity('alice', 2, 4);
    await removeFromCart('alice', 2);
    await clearCart('alice');
    expect(api.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST /api/cart/cart/alice/items',
      'PUT /api/cart/cart/alice/items/2?quantity=4',
      'DELETE /api/cart/cart/alice/items/2',
      'DELETE /api/cart/cart/alice',
    ]);
    expect(api.calls[0]!.body).toEqual({ product_id: 2, quantity: 2 });
  });
});

describe('order and payment calls', () => {
  it('checks out with the user id and an Idempotency-Key', async () => {
    const api = mockFetch({ 'POST /api/order/orders': { status: 201, body: order({ id: 9 }) } });
    const placed = await createOrder('alice', 'k-123');
    expect(placed.id).toBe(9);
    expect(api.calls[0]!.body).toEqual({ user_id: 'alice' });
    expect(api.calls[0]!.headers['idempotency-key']).toBe('k-123');
  });

  it('pays with an Idempotency-Key and no body', async () => {
    const api = mockFetch({ 'POST /api/order/orders/4/payment': { body: order({ id: 4, status: 'paid' }) } });
    const paid = await payOrder(4, 'k-9');
    expect(paid.status).toBe('paid');
    expect(api.calls[0]!.body).toBeUndefined();
    expect(api.calls[0]!.headers['idempotency-key']).toBe('k-9');
  });

  it('changes a status with a JSON body', async () => {
    const api = mockFetch({ 'PUT /api/order/orders/4/status': { body: order({ id: 4, status: 'shipped' }) } });
    await updateOrderStatus(4, 'shipped');
    expect(api.calls[0]!.body).toEqual({ status: 'shipped' });
  });

  it('lists orders, a user’s orders, payments and events', async () => {
    const api = mockFetch({
      'GET /api/order/orders': { body: [order()] },
      'GET /api/order/orders/user/*': { body: [order()] },
      'GET /api/payment/payments': { body: [payment()] },
      'GET /api/order/events': { body: [] },
    });
    await listOrders({ limit: 5 });
    await listUserOrders('bob smith');
    await listPayments(7);
    await listEvents(12, 50);
    expect(api.calls.map((c) => c.url)).toEqual([
      '/api/order/orders?limit=5',
      '/api/order/orders/user/bob%20smith',
      '/api/payment/payments?order_id=7',
      '/api/order/events?after=12&limit=50',
    ]);
  });

  it('reads a page of orders with its neighbours and total', async () => {
    const api = mockFetch({
      'GET /api/order/orders': {
        body: [order({ id: 9 })],
        headers: {
          Link: '<?status=paid&limit=1&after=Wzld>; rel="next", <?status=paid&limit=1&last=true>; rel="last"',
          'X-Total-Count': '1234',
        },
      },
      'GET /api/order/orders/user/*': { body: [] },
    });
    const page = await listOrderPage({ status: 'paid' }, null, 1);
    expect(page).toEqual({
      rows: [order({ id: 9 })],
      next: { after: 'Wzld' },
      prev: null,
      total: 1234,
    });
    expect(api.calls[0]!.url).toBe('/api/order/orders?status=paid&limit=1&count=true');
    await listOrderPage({}, { last: true }, 50, undefined, 'bo b');
    expect(api.calls[1]!.url).toBe('/api/order/orders/user/bo%20b?last=true&limit=50&count=true');
  });

  it('builds the event stream URL on the same origin', () => {
    expect(eventStreamUrl()).toBe('/api/order/events/stream');
    expect(eventStreamUrl(42)).toBe('/api/order/events/stream?after=42');
  });
});

describe('errors', () => {
  it('carries the status and the detail of an error body', async () => {
    mockFetch({ 'POST /api/order/orders/1/payment': { status: 400, body: { detail: 'Payment failed' } } });
    const err = await payOrder(1, 'k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, detail: 'Payment failed', productId: null });
    expect(errorMessage(err)).toBe('Payment failed');
  });

  it('keeps the product of a stock conflict', async () => {
    mockFetch({
      'POST /api/order/orders': {
        status: 409,
        body: { detail: 'Insufficient stock for product 3', product_id: 3 },
      },
    });
    const err = (await createOrder('alice', 'k').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(409);
    expect(err.productId).toBe(3);
  });

  it('explains an answer without a JSON error body', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })),
    );
    const err = (await getCart('alice').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(502);
    expect(err.detail).toBe('The server answered 502 Bad Gateway');
  });

  it('says when the server cannot be reached', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
    );
    const err = (await listCategories().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.detail).toMatch(/cannot reach the server/i);
  });

  it('rejects a success that is not JSON', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('', { status: 200 })));
    await expect(listCategories()).rejects.toThrow(/not JSON/);
  });

  it('reads JSON error bodies of any 4xx', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(422, { detail: 'price: must have at most two decimals' })));
    await expect(createProduct({ name: 'x', price: 1.001 })).rejects.toThrow(
      'price: must have at most two decimals',
    );
  });
});

describe('idempotency keys', () => {
  it('is a fresh UUID each time', () => {
    const a = newIdempotencyKey();
    const b = newIdempotencyKey();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('builds a UUID v4 where randomUUID is missing (plain http)', () => {
    const original = crypto.randomUUID;
    Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true });
    try {
      expect(newIdempotencyKey()).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    } finally {
      Object.defineProperty(crypto, 'randomUUID', { value: original, configurable: true });
    }
  });
});
