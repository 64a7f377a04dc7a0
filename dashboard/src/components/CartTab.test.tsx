import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { Toaster } from '../feedback/toast';
import { cart, mockFetch, order, product } from '../test/mocks';
import { CartTab, cartTotalCents } from './CartTab';

const twoItems = cart('alice', [
  [1, 'Laptop', 999.99, 2],
  [2, 'Mouse', 29.99, 1],
]);

function line(name: string) {
  return screen.getByRole('listitem', { name });
}

describe('CartTab', () => {
  it('lists the items with subtotals and the total to the cent', async () => {
    mockFetch({ 'GET /api/cart/cart/*': { body: twoItems } });
    render(<CartTab userId="alice" onOpenOrder={() => {}} />);
    expect(screen.getByText('Loading your cart…')).toBeInTheDocument();
    await screen.findByRole('listitem', { name: 'Laptop' });
    expect(within(line('Laptop')).getByText('$1,999.98')).toBeInTheDocument();
    expect(within(line('Laptop')).getByText('$999.99 each')).toBeInTheDocument();
    expect(within(line('Mouse')).getByText('$29.99')).toBeInTheDocument();
    expect(screen.getByTestId('cart-total')).toHaveTextContent('$2,029.97');
    expect(screen.getByText('3 items')).toBeInTheDocument();
  });

  it('adds amounts in integer cents', () => {
    const c = cart('alice', [
      [1, 'A', 0.1, 3],
      [2, 'B', 0.2, 1],
      [3, 'Gone', null, 5],
    ]);
    expect(cartTotalCents(c)).toBe(50);
  });

  it('shows an item whose product was deleted, out of the total', async () => {
    mockFetch({ 'GET /api/cart/cart/*': { body: cart('alice', [[7, null, null, 2], [2, 'Mouse', 29.99, 1]]) } });
    render(<CartTab userId="alice" onOpenOrder={() => {}} />);
    const gone = await screen.findByRole('listitem', { name: 'Product #7' });
    expect(within(gone).getByText(/No longer sold/)).toBeInTheDocument();
    expect(screen.getByTestId('cart-total')).toHaveTextContent('$29.99');
    // Counted out, and the summary says what to do: remove it.
    expect(screen.getByText('1 item')).toBeInTheDocument();
    expect(screen.getByTestId('gone')).toHaveTextContent(
      'Product #7 is no longer sold: remove it to check out.',
    );
    expect(screen.getByRole('button', { name: 'Checkout' })).toBeDisabled();
    expect(screen.queryByText(/Lower its quantity/)).not.toBeInTheDocument();
  });

  it('changes a quantity with PUT ?quantity= and shows the new cart', async () => {
    const api = mockFetch({
      'GET /api/cart/cart/*': [{ body: twoItems }, { body: cart('alice', [[1, 'Laptop', 999.99, 2], [2, 'Mouse', 29.99, 3]]) }],
      'PUT /api/cart/cart/alice/items/2': { body: { message: 'Item quantity updated' } },
    });
    const user = userEvent.setup();
    render(<CartTab userId="alice" onOpenOrder={() => {}} />);
    const mouse = await screen.findByRole('listitem', { name: 'Mouse' });
    const update = within(mouse).getByRole('button', { name: 'Update' });
    expect(update).toBeDisabled();
    const input = within(mouse).getByLabelText('Quantity');
    await user.clear(input);
    await user.type(input, '3');
    await user.click(update);
    expect(await screen.findByText('$2,089.95')).toBeInTheDocument();
    expect(api.to('PUT', '/api/cart/cart/alice/items/2')[0]!.url).toBe(
      '/api/cart/cart/alice/items/2?quantity=3',
    );
    expect(within(line('Mouse')).getByText('$89.97')).toBeInTheDocument();
  });

  it('shows a refused quantity on its item, saying how many there are', async () => {
    const api = mockFetch({
      'GET /api/cart/cart/*': { body: twoItems },
      'GET /api/catalog/products/1': { body: product({ id: 1, name: 'Laptop', stock: 6 }) },
      'PUT /api/cart/cart/alice/items/1': { status: 400, body: { detail: 'Insufficient stock' } },
    });
    const user = userEvent.setup();
    render(<CartTab userId="alice" onOpenOrder={() => {}} />);
    const laptop = await screen.findByRole('listitem', { name: 'Laptop' });
    const input = within(laptop).getByLabelText('Quantity');
    await user.clear(input);
    await user.type(input, '99{Enter}');
    expect(await within(laptop).findByRole('alert')).toHaveTextContent(
      'Only 6 in stock: choose 6 or fewer.',
    );
    expect(input).toHaveAttribute('aria-invalid', 'true');
    expect(within(line('Mouse')).queryByRole('alert')).not.toBeInTheDocument();
    // A quantity that is not one is said at once, without asking the cart.
    await user.clear(input);
    await user.type(input, '0{Enter}');
    expect(within(laptop).getByRole('alert')).toHaveTextContent('Quantity must be at least 1.');
    expect(api.to('PUT', '/api/cart/cart/alice/items/1')).toHaveLength(1);
  });

  it('removes an item and clears the cart', async () => {
    const api = mockFetch({
      'GET /api/cart/cart/*': [
        { body: twoItems },
        { body: cart('alice', [[1, 'Laptop', 999.99, 2]]) },
        { body: cart('alice', []) },
      ],
      'DELETE /api/cart/cart/alice/items/2': { body: { message: 'Item removed from cart' } },
      'DELETE /api/cart/cart/alice': { body: { message: 'Cart cleared' } },
    });
    const user = userEvent.setup();
    render(
      <>
        <CartTab userId="alice" onOpenOrder={() => {}} onBrowse={() => {}} />
        <Toaster />
      </>,
    );
    const mouse = await screen.findByRole('listitem', { name: 'Mouse' });
    await user.click(within(mouse).getByRole('button', { name: 'Remove Mouse' }));
    // Asked first: keeping it sends nothing.
    let dialog = screen.getByRole('dialog', { name: 'Remove Mouse?' });
    expect(dialog).toHaveTextContent('1 unit of Mouse leave your cart.');
    await user.click(within(dialog).getByRole('button', { name: 'Keep it' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(api.to('DELETE', '/api/cart/cart/alice/items/2')).toHaveLength(0);
    await user.click(within(mouse).getByRole('button', { name: 'Remove Mouse' }));
    dialog = screen.getByRole('dialog', { name: 'Remove Mouse?' });
    await user.click(within(dialog).getByRole('button', { name: 'Remove' }));
    await screen.findByText('2 items');
    expect(screen.queryByRole('listitem', { name: 'Mouse' })).not.toBeInTheDocument();
    expect(await screen.findByText('Removed Mouse from the cart.')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Clear cart' }));
    dialog = screen.getByRole('dialog', { name: 'Clear the cart?' });
    expect(dialog).toHaveTextContent('All 2 items leave the cart.');
    await user.click(within(dialog).getByRole('button', { name: 'Clear cart' }));
    expect(await screen.findByText('Your cart is empty.')).toBeInTheDocument();
    expect(api.to('DELETE', '/api/cart/cart/alice')).toHaveLength(1);
    expect(await screen.findByText('The cart is empty now.')).toBeInTheDocument();
  });

  it('checks out with a new Idempotency-Key per click and shows the order', async () => {
    const placed = order({
      id: 7,
      total_amount: 2029.97,
      items: [
        { product_id: 1, product_name: 'Laptop', quantity: 2, price: 999.99 },
        { product_id: 2, product_name: 'Mouse', quantity: 1, price: 29.99 },
      ],
    });
    const api = mockFetch({
      'GET /api/cart/cart/*': [{ body: twoItems }, { body: cart('alice', []) }],
      'POST /api/order/orders': [{ status: 503, body: { detail: 'Catalog unreachable' } }, { status: 201, body: placed }],
    });
    const onOpenOrder = vi.fn();
    const user = userEvent.setup();
    render(<CartTab userId="alice" onOpenOrder={onOpenOrder} />);
    await screen.findByRole('listitem', { name: 'Laptop' });
    await user.click(screen.getByRole('button', { name: 'Checkout' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Checkout failed: Catalog unreachable');
    await user.click(screen.getByRole('button', { name: 'Checkout' }));
    const placedPanel = await screen.findByRole('region', { name: 'Order #7 placed' });
    expect(within(placedPanel).getByText('$2,029.97')).toBeInTheDocument();
    expect(within(placedPanel).getByText('2 × Laptop at $999.99')).toBeInTheDocument();
    expect(await screen.findByText('Your cart is empty.')).toBeInTheDocument();

    const posts = api.to('POST', '/api/order/orders');
    expect(posts.map((p) => p.body)).toEqual([{ user_id: 'alice' }, { user_id: 'alice' }]);
    const keys = posts.map((p) => p.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[0]).not.toBe(keys[1]);

    await user.click(screen.getByRole('button', { name: 'View order #7' }));
    expect(onOpenOrder).toHaveBeenCalledWith(7);
  });

  it('shows a stock conflict on the item it concerns', async () => {
    mockFetch({
      'GET /api/cart/cart/*': { body: twoItems },
      'POST /api/order/orders': {
        status: 409,
        body: { detail: 'Insufficient stock for product 2 (Mouse): 0 available, 1 requested', product_id: 2 },
      },
    });
    const user = userEvent.setup();
    render(<CartTab userId="alice" onOpenOrder={() => {}} />);
    await screen.findByRole('listitem', { name: 'Laptop' });
    await user.click(screen.getByRole('button', { name: 'Checkout' }));
    const mouse = line('Mouse');
    expect(await within(mouse).findByRole('alert')).toHaveTextContent(
      'Insufficient stock for product 2 (Mouse): 0 available, 1 requested',
    );
    expect(within(line('Laptop')).queryByRole('alert')).not.toBeInTheDocument();
    expect(screen.getByText(/not enough stock for an item/)).toBeInTheDocument();
  });

  it('shows the cart of the user it is given', async () => {
    const api = mockFetch({ 'GET /api/cart/cart/*': { body: cart('bob', []) } });
    const { rerender } = render(<CartTab userId="alice" onOpenOrder={() => {}} />);
    await screen.findByText('Your cart is empty.');
    rerender(<CartTab userId="bob" onOpenOrder={() => {}} />);
    await screen.findByText('Your cart is empty.');
    expect(api.calls.map((c) => c.path)).toEqual(['/api/cart/cart/alice', '/api/cart/cart/bob']);
  });
});
