import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { Product } from '../api';
import { mockFetch, product } from '../test/mocks';
import { fieldValue, ProductsTab } from './ProductsTab';

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

describe('ProductsTab', () => {
  it('shows the catalog as cards with price and stock', async () => {
    mockFetch({ 'GET /api/catalog/products': catalogRoute() });
    render(<ProductsTab userId="alice" />);
    expect(screen.getByText('Loading products…')).toBeInTheDocument();
    await screen.findByRole('article', { name: 'Laptop' });
    expect(within(card('Laptop')).getByText('$999.99')).toBeInTheDocument();
    expect(within(card('Laptop')).getByText('10 in stock')).toBeInTheDocument();
    expect(within(card('Mouse')).getByText('Out of stock')).toBeInTheDocument();
    expect(within(card('Mouse')).getByRole('button', { name: 'Add to cart' })).toBeDisabled();
    expect(screen.getByText('3 products')).toBeInTheDocument();
  });

  it('searches and filters by category through the API', async () => {
    const api = mockFetch({ 'GET /api/catalog/products': catalogRoute() });
    const user = userEvent.setup();
    render(<ProductsTab userId="alice" />);
    await screen.findByRole('article', { name: 'Tea' });

    await user.type(screen.getByLabelText('Search'), 'wireless');
    await waitFor(() => expect(screen.queryByRole('article', { name: 'Laptop' })).not.toBeInTheDocument());
    expect(card('Mouse')).toBeInTheDocument();
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

  it('says when nothing matches', async () => {
    mockFetch({ 'GET /api/catalog/products': catalogRoute() });
    const user = userEvent.setup();
    render(<ProductsTab userId="alice" />);
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
    render(<ProductsTab userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    const quantity = within(laptop).getByLabelText('Quantity');
    await user.clear(quantity);
    await user.type(quantity, '3');
    await user.click(within(laptop).getByRole('button', { name: 'Add to cart' }));
    expect(await within(laptop).findByText(/Added 3 to your cart/)).toBeInTheDocument();
    const [add] = api.to('POST', '/api/cart/cart/*/items');
    expect(add!.path).toBe('/api/cart/cart/alice/items');
    expect(add!.body).toEqual({ product_id: 1, quantity: 3 });
  });

  it('shows the cart service’s error on the card', async () => {
    mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'POST /api/cart/cart/*/items': { status: 400, body: { detail: 'Insufficient stock' } },
    });
    const user = userEvent.setup();
    render(<ProductsTab userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Add to cart' }));
    expect(await within(laptop).findByRole('alert')).toHaveTextContent('Insufficient stock');
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
    render(<ProductsTab userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Add to cart' }));
    const busy = within(laptop).getByRole('button', { name: 'Adding…' });
    expect(busy).toBeDisabled();
    expect(busy).toHaveAttribute('aria-busy', 'true');
    release();
    await within(laptop).findByRole('alert');
  });

  it('edits price and stock with PUT /products/{id}', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'PUT /api/catalog/products/1': ({ body }) => ({ body: { ...catalog[0], ...(body as object) } }),
    });
    const user = userEvent.setup();
    render(<ProductsTab userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Edit price and stock' }));
    const price = within(laptop).getByLabelText('Price ($)');
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

  it('shows why an edit was refused', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'PUT /api/catalog/products/1': { status: 422, body: { detail: 'price: must have at most two decimals' } },
    });
    const user = userEvent.setup();
    render(<ProductsTab userId="alice" />);
    const laptop = await screen.findByRole('article', { name: 'Laptop' });
    await user.click(within(laptop).getByRole('button', { name: 'Edit price and stock' }));
    const price = within(laptop).getByLabelText('Price ($)');
    await user.clear(price);
    await user.type(price, '1.005');
    await user.click(within(laptop).getByRole('button', { name: 'Save' }));
    expect(await within(laptop).findByRole('alert')).toHaveTextContent('price: must have at most two decimals');
    expect(api.to('PUT', '/api/catalog/products/1')[0]!.body).toEqual({ price: 1.005, stock: 10 });
    // Still editing: nothing was saved.
    expect(within(laptop).getByLabelText('Price ($)')).toHaveValue('1.005');
  });

  it('creates a product and shows the API’s validation message', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': catalogRoute(),
      'POST /api/catalog/products': [
        { status: 422, body: { detail: 'name: must be from 1 to 200 characters' } },
        { status: 201, body: product({ id: 4, name: 'Pen', price: 1.5 }) },
      ],
    });
    const user = userEvent.setup();
    render(<ProductsTab userId="alice" />);
    await screen.findByRole('article', { name: 'Laptop' });
    await user.click(screen.getByRole('button', { name: 'New product' }));
    const form = screen.getByRole('form', { name: 'New product' });
    await user.type(within(form).getByLabelText('Price ($)'), '1.50');
    await user.click(within(form).getByRole('button', { name: 'Create product' }));
    expect(await within(form).findByRole('alert')).toHaveTextContent(
      'Not created: name: must be from 1 to 200 characters',
    );

    await user.type(within(form).getByLabelText('Name'), 'Pen');
    await user.type(within(form).getByLabelText('Category'), 'Office');
    await user.click(within(form).getByRole('button', { name: 'Create product' }));
    expect(await within(form).findByText('Created “Pen” (#4).')).toBeInTheDocument();
    const posts = api.to('POST', '/api/catalog/products');
    expect(posts[0]!.body).toEqual({ name: '', price: 1.5, stock: 0 });
    expect(posts[1]!.body).toEqual({ name: 'Pen', price: 1.5, stock: 0, category: 'Office' });
    expect(posts[0]!.headers['idempotency-key']).toBeTruthy();
    expect(posts[1]!.headers['idempotency-key']).not.toBe(posts[0]!.headers['idempotency-key']);
    expect(within(form).getByLabelText('Name')).toHaveValue('');
  });

  it('shows an error when the catalog cannot be loaded', async () => {
    mockFetch({ 'GET /api/catalog/products': { status: 503, body: { detail: 'Catalog unavailable' } } });
    render(<ProductsTab userId="alice" />);
    const alerts = await screen.findAllByRole('alert');
    expect(alerts.map((a) => a.textContent).join(' ')).toMatch(
      /Could not load the products: Catalog unavailable/,
    );
  });
});

describe('fieldValue', () => {
  it('sends numbers as numbers and anything else as typed', () => {
    expect(fieldValue(' 12.50 ')).toBe(12.5);
    expect(fieldValue('-1')).toBe(-1);
    expect(fieldValue('  ')).toBe('');
    expect(fieldValue('ten')).toBe('ten');
  });
});
