import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { Product } from '../api';
import { Toaster } from '../feedback/toast';
import { cart, mockFetch, product } from '../test/mocks';
import { ProductsTab } from './ProductsTab';

const catalog: Product[] = [
  product({ id: 1, name: 'Laptop', price: 999.99, stock: 10, category: 'Electronics' }),
  product({ id: 2, name: 'Mouse', description: 'Wireless optical mouse', price: 29.99, stock: 0, category: 'Electronics' }),
  product({ id: 3, name: 'Tea', description: 'Green tea', price: 4.5, stock: 100, category: 'Food' }),
];

function catalogRoute() {
  return ({ query }: { query: URLSearchParams }) => {
    const search = query.get('search')?.toLowerCase();
    const category = query.get('category')?.toLowerCase();
    return {
      body: catalog.filter(
        (p) =>
          (!search || p.name.toLowerCase().includes(search) || p.description?.toLowerCase().includes(search)) &&
          (!category || p.category?.toLowerCase() === category),
      ),
    };
  };
}

function card(name: string) {
  return screen.getByRole('article', { name });
}

/** The tab and the toasts it shows. */
function ProductsWithToasts(props: Parameters<typeof ProductsTab>[0]) {
  return (
    <>
      <ProductsTab {...props} />
      <Toaster />
    </>
  );
}

describe('ProductsTab', () => {
  it('shows the catalog as cards with price and stock', async () => {
    mockFetch({ 'GET /api/catalog/products': catalogRoute() });
    render(<ProductsWithToasts userId="alice" />);
    expect(screen.getByText('Loading products…')).toBeInTheDocument();
    await screen.findByRole('article', { name: 'Laptop' });
    expect(within(card('Laptop')).getByText('$999.99')).toBeInTheDocument();
    expect(within(card('Laptop')).getByText('10 in stock')).toBeInTheDocument();
    expect(within(card('Mouse')).getByText('Out of stock')).toBeInTheDocument();
    expect(within(card('Mouse')).getByRole('button', { name: 'Add to cart' })).toBeDisabled();
    expect(screen.getByText('3 products')).toBeInTheDocument();
  });

  it('searches and filters by category through the API', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'GET /api/catalog/categories': { body: ['Electronics', 'Food'] },
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    await screen.findByRole('article', { name: 'Tea' });

    await user.type(screen.getByLabelText('Search'), 'wireless');
    // The search waits for typing to pause, then the filtered list loads.
    await waitFor(() => expect(screen.queryByRole('article', { name: 'Laptop' })).not.toBeInTheDocument());
    expect(await screen.findByRole('article', { name: 'Mouse' })).toBeInTheDocument();
    expect(api.calls.some((c) => c.query.get('search') === 'wireless')).toBe(true);

    await user.clear(screen.getByLabelText('Search'));
    const select = screen.getByLabelText('Category');
    await within(select).findByRole('option', { name: 'Food' });
    await user.selectOptions(select, 'Food');
    await waitFor(() => {
      expect(screen.queryByRole('article', { name: 'Mouse' })).not.toBeInTheDocument();
      expect(card('Tea')).toBeInTheDocument();
    });
    expect(api.calls.some((c) => c.query.get('category') === 'Food' && !c.query.get('search'))).toBe(true);
  });

  it('shows the catalog a page at a time, with its size', async () => {
    const many = Array.from({ length: 70 }, (_, i) => product({ id: i + 1, name: `Item ${i + 1}` }));
    const api = mockFetch({
      'GET /api/catalog/products': ({ query }) => {
        const from = Number(query.get('after') ?? 0);
        const rows = many.slice(from, from + Number(query.get('limit')));
        const next = from + rows.length < many.length;
        return {
          body: rows,
          headers: {
            'X-Total-Count': '70',
            ...(next ? { Link: `<?limit=60&after=${rows.at(-1)!.id}>; rel="next"` } : {}),
          },
        };
      },
      'GET /api/catalog/categories': { body: [] },
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    expect(await screen.findByText('60 of 70 products')).toBeInTheDocument();
    expect(screen.getAllByRole('article')).toHaveLength(60);
    await user.click(screen.getByRole('button', { name: 'Show more products' }));
    expect(await screen.findByText('70 products')).toBeInTheDocument();
    expect(screen.getAllByRole('article')).toHaveLength(70);
    expect(screen.queryByRole('button', { name: 'Show more products' })).not.toBeInTheDocument();
    expect(api.to('GET', '/api/catalog/products').map((c) => c.query.get('after'))).toEqual([
      null,
      '60',
    ]);
  });

  it('says when nothing matches', async () => {
    mockFetch({ 'GET /api/catalog/products': catalogRoute() });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    await screen.findByRole('article', { name: 'Tea' });
    await user.type(screen.getByLabelText('Search'), 'zzz');
    expect(await screen.findByText('No product matches.')).toBeInTheDocument();
  });

  it('adds the chosen quantity to the user’s cart', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'POST /api/cart/cart/*/items': {
        body: { id: 1, user_id: 'alice', product_id: 1, quantity: 3, product_name: 'Laptop', product_price: 999.99, created_at: '' },
      },
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    const quantity = within(laptop).getByLabelText('Quantity');
    await user.clear(quantity);
    await user.type(quantity, '3');
    await user.click(within(laptop).getByRole('button', { name: 'Add to cart' }));
    expect(await screen.findByText(/Added 3 × Laptop to your cart/)).toBeInTheDocument();
    const [add] = api.to('POST', '/api/cart/cart/*/items');
    expect(add!.path).toBe('/api/cart/cart/alice/items');
    expect(add!.body).toEqual({ product_id: 1, quantity: 3 });
  });

  it('says how many can still be added when the stock is short', async () => {
    mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'GET /api/catalog/products/1': { body: catalog[0] },
      'GET /api/cart/cart/*': { body: cart('alice', [[1, 'Laptop', 999.99, 8]]) },
      'POST /api/cart/cart/*/items': { status: 400, body: { detail: 'Insufficient stock' } },
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    const quantity = within(laptop).getByLabelText('Quantity');
    await user.clear(quantity);
    await user.type(quantity, '5');
    await user.click(within(laptop).getByRole('button', { name: 'Add to cart' }));
    expect(await within(laptop).findByText(/^Not added/)).toHaveTextContent(
      'Not added. Only 10 in stock, and your cart already holds 8: you can add up to 2 more.',
    );
    expect(quantity).toHaveAttribute('aria-invalid', 'true');
  });

  it('shows a bad quantity on its field without asking the cart', async () => {
    const api = mockFetch({ 'GET /api/catalog/products': catalogRoute() });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    const quantity = within(laptop).getByLabelText('Quantity');
    for (const [typed, problem] of [
      ['0', 'Quantity must be at least 1.'],
      ['1.5', 'Quantity must be a whole number.'],
      ['', 'Enter the quantity.'],
    ] as const) {
      await user.clear(quantity);
      if (typed) await user.type(quantity, typed);
      await user.click(within(laptop).getByRole('button', { name: 'Add to cart' }));
      expect(within(laptop).getByText(problem)).toBeInTheDocument();
    }
    expect(api.to('POST', '/api/cart/cart/*/items')).toHaveLength(0);
  });

  it('shows the busy state while adding', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    mockFetch({ 'GET /api/catalog/products': catalogRoute() });
    const fetchMock = globalThis.fetch;
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      if (init?.method === 'POST') await gate;
      return fetchMock(input, init);
    }) as typeof fetch;
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Add to cart' }));
    const busy = within(laptop).getByRole('button', { name: 'Adding…' });
    expect(busy).toBeDisabled();
    expect(busy).toHaveAttribute('aria-busy', 'true');
    release();
    await within(laptop).findByRole('alert');
  });

  it('deletes a product after asking', async () => {
    let deleted = false;
    const api = mockFetch({
      'GET /api/catalog/products': (call) =>
        deleted
          ? { body: catalog.filter((p) => p.id !== 1) }
          : catalogRoute()(call),
      'DELETE /api/catalog/products/1': () => {
        deleted = true;
        return { body: { message: 'Product deleted' } };
      },
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Delete Laptop' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete Laptop?' });
    expect(dialog).toHaveTextContent('nobody can buy it any more');
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(api.to('DELETE', '/api/catalog/products/1')).toHaveLength(0);
    await user.click(within(laptop).getByRole('button', { name: 'Delete Laptop' }));
    await user.click(
      within(screen.getByRole('dialog', { name: 'Delete Laptop?' })).getByRole('button', {
        name: 'Delete product',
      }),
    );
    expect(await screen.findByText('Deleted Laptop.')).toBeInTheDocument();
    await waitFor(() =>
      expect(screen.queryByRole('article', { name: 'Laptop' })).not.toBeInTheDocument(),
    );
    expect(api.to('DELETE', '/api/catalog/products/1')).toHaveLength(1);
  });

  it('edits price and stock with PUT /products/{id}', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'PUT /api/catalog/products/1': ({ body }) => ({ body: { ...catalog[0], ...(body as object) } }),
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Edit price and stock' }));
    const price = within(laptop).getByLabelText('Price (USD)');
    expect(price).toHaveValue('999.99');
    await user.clear(price);
    await user.type(price, '899.5');
    const stock = within(laptop).getByLabelText('Stock');
    await user.clear(stock);
    await user.type(stock, '4');
    await user.click(within(laptop).getByRole('button', { name: 'Save' }));
    expect(await within(laptop).findByText('$899.50')).toBeInTheDocument();
    expect(within(laptop).getByText('4 in stock')).toBeInTheDocument();
    expect(api.to('PUT', '/api/catalog/products/1')[0]!.body).toEqual({ price: 899.5, stock: 4 });
  });

  it('shows each problem of an edit on its field', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'PUT /api/catalog/products/1': {
        status: 422,
        body: { detail: 'stock must be from 0 to 1000000000, got 7' },
      },
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Edit price and stock' }));
    const price = within(laptop).getByLabelText('Price (USD)');
    const stock = within(laptop).getByLabelText('Stock');
    await user.clear(price);
    await user.type(price, '1.005');
    await user.clear(stock);
    await user.type(stock, '-2');
    await user.click(within(laptop).getByRole('button', { name: 'Save' }));
    // Both at once, each on its field; nothing was sent.
    expect(within(laptop).getByText('A price has at most two decimals (cents).')).toBeInTheDocument();
    expect(within(laptop).getByText('Stock cannot be negative.')).toBeInTheDocument();
    expect(price).toHaveAttribute('aria-invalid', 'true');
    expect(stock).toHaveAttribute('aria-invalid', 'true');
    expect(api.to('PUT', '/api/catalog/products/1')).toHaveLength(0);
    // The catalog's own refusal of a field lands on that field.
    await user.clear(price);
    await user.type(price, '1.50');
    await user.clear(stock);
    await user.type(stock, '7');
    await user.click(within(laptop).getByRole('button', { name: 'Save' }));
    expect(
      await within(laptop).findByText('Stock must be from 0 to 1000000000, got 7.'),
    ).toBeInTheDocument();
    expect(price).not.toHaveAttribute('aria-invalid');
    expect(api.to('PUT', '/api/catalog/products/1')[0]!.body).toEqual({ price: 1.5, stock: 7 });
    // Still editing: nothing was saved.
    expect(within(laptop).getByLabelText('Price (USD)')).toHaveValue('1.50');
  });

  it('creates a product, showing every problem on its own field first', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'POST /api/catalog/products': [
        { status: 422, body: { detail: 'category must be at most 100 characters' } },
        { status: 201, body: product({ id: 4, name: 'Pen', price: 1.5 }) },
      ],
    });
    const user = userEvent.setup();
    render(<ProductsWithToasts userId="alice" />);
    await screen.findByRole('article', { name: 'Laptop' });
    await user.click(screen.getByRole('button', { name: 'New product' }));
    const form = screen.getByRole('form', { name: 'New product' });
    await user.type(within(form).getByLabelText('Price (USD)'), 'ten');
    await user.clear(within(form).getByLabelText('Stock'));
    await user.type(within(form).getByLabelText('Stock'), '2.5');
    await user.click(within(form).getByRole('button', { name: 'Create product' }));
    expect(within(form).getByText('Enter a name.')).toBeInTheDocument();
    expect(within(form).getByText('Enter the price as a number, such as 19.99.')).toBeInTheDocument();
    expect(within(form).getByText('Stock must be a whole number.')).toBeInTheDocument();
    await waitFor(() => expect(within(form).getByLabelText('Name')).toHaveFocus());
    expect(api.to('POST', '/api/catalog/products')).toHaveLength(0);

    await user.type(within(form).getByLabelText('Name'), 'Pen');
    await user.clear(within(form).getByLabelText('Price (USD)'));
    await user.type(within(form).getByLabelText('Price (USD)'), '1.50');
    await user.clear(within(form).getByLabelText('Stock'));
    await user.type(within(form).getByLabelText('Category'), 'Office');
    await user.click(within(form).getByRole('button', { name: 'Create product' }));
    // The catalog's refusal names a field: shown on it.
    expect(
      await within(form).findByText('Category must be at most 100 characters.'),
    ).toBeInTheDocument();
    await user.click(within(form).getByRole('button', { name: 'Create product' }));
    expect(await screen.findByText('Created “Pen” (#4).')).toBeInTheDocument();
    const posts = api.to('POST', '/api/catalog/products');
    expect(posts[0]!.body).toEqual({ name: 'Pen', price: 1.5, stock: 0, category: 'Office' });
    expect(posts[0]!.headers['idempotency-key']).toBeTruthy();
    expect(posts[1]!.headers['idempotency-key']).not.toBe(posts[0]!.headers['idempotency-key']);
    expect(within(form).getByLabelText('Name')).toHaveValue('');
  });

  it('shows an error when the catalog cannot be loaded', async () => {
    mockFetch({ 'GET /api/catalog/products': { status: 503, body: { detail: 'Catalog unavailable' } } });
    render(<ProductsWithToasts userId="alice" />);
    const alerts = await screen.findAllByRole('alert');
    expect(alerts.map((a) => a.textContent).join(' ')).toMatch(
      /Could not load the products: Catalog unavailable/,
    );
  });
});


