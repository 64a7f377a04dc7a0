import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import type { Order, OrderStatus } from '../api';
import { mockFetch, order, orderEvent, payment } from '../test/mocks';
import { Toaster } from '../feedback/toast';
import { OrderDetails, OrdersTab } from './OrdersTab';

const pending = order({
  id: 2,
  status: 'pending',
  total_amount: 2029.97,
  items: [
    { product_id: 1, product_name: 'Laptop', quantity: 2, price: 999.99 },
    { product_id: 2, product_name: 'Mouse', quantity: 1, price: 29.99 },
  ],
  created_at: '2025-01-02T10:00:00Z',
});
const paid = order({ id: 1, status: 'paid', payment_id: 'pay-1', total_amount: 29.99 });

/** The tab with its selection kept in state, as the app keeps it in the URL. */
function Harness({ initial = null }: { initial?: number | null }) {
  const [selected, setSelected] = useState<number | null>(initial);
  return <OrdersTab userId="alice" selectedId={selected} onSelect={setSelected} />;
}

function details() {
  return screen.getByRole('article');
}

describe('OrdersTab', () => {
  it('lists the user’s orders and shows one with its items and payments', async () => {
    const api = mockFetch({
      'GET /api/order/orders/user/*': { body: [pending, paid] },
      'GET /api/order/events': {
        body: [
          orderEvent({ event_type: 'order_created' }),
          orderEvent({
            event_type: 'order_paid',
            data: { status: 'paid', previous_status: 'pending', payment_id: 'pay-1' },
          }),
        ],
      },
      'GET /api/payment/payments': { body: [payment({ id: 'pay-1', order_id: 1, amount: 29.99 })] },
    });
    const user = userEvent.setup();
    render(<Harness />);
    const rows = await screen.findAllByRole('button', { name: /^Order #/ });
    expect(rows.map((r) => r.textContent)).toEqual([
      expect.stringContaining('Order #2'),
      expect.stringContaining('Order #1'),
    ]);
    expect(screen.getByText('2 orders')).toBeInTheDocument();
    expect(screen.getByText('Select an order to see its items, payments and actions.')).toBeInTheDocument();

    await user.click(rows[1]!);
    const panel = await screen.findByRole('article', { name: 'Order #1' });
    expect(within(panel).getByTestId('order-total')).toHaveTextContent('$29.99');
    expect(await within(panel).findByText('success')).toBeInTheDocument();
    expect(api.to('GET', '/api/payment/payments')[0]!.url).toBe('/api/payment/payments?order_id=1');
    expect(rows[1]).toHaveAttribute('aria-current', 'true');
    const history = within(panel).getByRole('region', { name: 'Events' });
    expect(await within(history).findByText('placed for $29.99')).toBeInTheDocument();
    expect(within(history).getByText('pending → paid')).toBeInTheDocument();
    expect(api.to('GET', '/api/order/events')[0]!.url).toBe(
      '/api/order/events?order_id=1&last=true&limit=1000',
    );
  });

  it('shows item subtotals and the total in cents', async () => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': { body: [pending] },
      'GET /api/payment/payments': { body: [] },
    });
    render(<Harness initial={2} />);
    const panel = await screen.findByRole('article', { name: 'Order #2' });
    expect(within(panel).getByRole('cell', { name: '$1,999.98' })).toBeInTheDocument();
    expect(within(panel).getByTestId('order-total')).toHaveTextContent('$2,029.97');
    expect(await within(panel).findByText('No payment yet.')).toBeInTheDocument();
  });

  it('pays with an Idempotency-Key and shows the paid order', async () => {
    const api = mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': [{ body: [pending] }, { body: [{ ...pending, status: 'paid', payment_id: 'p-9' }] }],
      'POST /api/order/orders/2/payment': { body: { ...pending, status: 'paid', payment_id: 'p-9' } },
      'GET /api/payment/payments': [{ body: [] }, { body: [payment({ id: 'p-9', order_id: 2, amount: 2029.97 })] }],
    });
    const user = userEvent.setup();
    render(<Harness initial={2} />);
    const panel = await screen.findByRole('article', { name: 'Order #2' });
    await user.click(within(panel).getByRole('button', { name: 'Pay $2,029.97' }));
    expect(await within(panel).findByText('Paid with payment p-9.')).toBeInTheDocument();
    expect(within(panel).getByText('paid')).toHaveClass('badge-paid');
    expect(within(panel).queryByRole('button', { name: /Pay/ })).not.toBeInTheDocument();
    expect(await within(panel).findByText('success')).toBeInTheDocument();
    const [pay] = api.to('POST', '/api/order/orders/2/payment');
    expect(pay!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('shows a declined payment, keeps the order pending and retries with a new key', async () => {
    // The service's state: the order is paid by the second attempt.
    let current: Order = pending;
    const api = mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': () => ({ body: [current] }),
      'POST /api/order/orders/2/payment': [
        { status: 400, body: { detail: 'Payment failed' } },
        () => {
          current = { ...pending, status: 'paid', payment_id: 'p-2' };
          return { body: current };
        },
      ],
      'GET /api/payment/payments': [
        { body: [] },
        { body: [payment({ id: 'p-1', order_id: 2, status: 'failed', amount: 2029.97 })] },
      ],
    });
    const user = userEvent.setup();
    render(<Harness initial={2} />);
    const panel = await screen.findByRole('article', { name: 'Order #2' });
    await user.click(within(panel).getByRole('button', { name: 'Pay $2,029.97' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent(/Payment failed/);
    expect(within(panel).getByText('pending')).toHaveClass('badge-pending');
    expect(await within(panel).findByText('failed')).toBeInTheDocument();

    await user.click(within(panel).getByRole('button', { name: 'Retry payment' }));
    expect(await within(panel).findByText('Paid with payment p-2.')).toBeInTheDocument();
    expect(within(panel).queryByRole('alert')).not.toBeInTheDocument();
    const keys = api.to('POST', '/api/order/orders/2/payment').map((c) => c.headers['idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('shows other payment errors as they are', async () => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': { body: [pending] },
      'POST /api/order/orders/2/payment': { status: 409, body: { detail: 'A payment for order 2 is in progress' } },
      'GET /api/payment/payments': { body: [] },
    });
    const user = userEvent.setup();
    render(<Harness initial={2} />);
    const panel = await screen.findByRole('article', { name: 'Order #2' });
    await user.click(within(panel).getByRole('button', { name: 'Pay $2,029.97' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent(
      'Payment not taken: A payment for order 2 is in progress',
    );
    expect(within(panel).getByRole('button', { name: 'Pay $2,029.97' })).toBeEnabled();
  });

  it('cancels an order and moves statuses along with PUT /status', async () => {
    let current: Order = pending;
    const api = mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': () => ({ body: [current] }),
      'PUT /api/order/orders/2/status': ({ body }) => {
        current = { ...current, status: (body as { status: OrderStatus }).status };
        return { body: current };
      },
      'GET /api/payment/payments': { body: [] },
    });
    const user = userEvent.setup();
    render(<Harness initial={2} />);
    const panel = await screen.findByRole('article', { name: 'Order #2' });
    await user.click(within(panel).getByRole('button', { name: 'Confirm' }));
    expect(await within(panel).findByText('confirmed')).toHaveClass('badge-confirmed');
    await user.click(within(panel).getByRole('button', { name: 'Cancel order' }));
    const dialog = screen.getByRole('dialog', { name: 'Cancel order #2?' });
    expect(dialog).toHaveTextContent('Its items go back on sale. This cannot be undone.');
    await user.click(within(dialog).getByRole('button', { name: 'Cancel order' }));
    expect(await within(panel).findByText('cancelled')).toHaveClass('badge-cancelled');
    expect(within(panel).queryByRole('group')).not.toBeInTheDocument();
    expect(api.to('PUT', '/api/order/orders/2/status').map((c) => c.body)).toEqual([
      { status: 'confirmed' },
      { status: 'cancelled' },
    ]);
  });

  it('asks before cancelling a paid order, and says it refunds', async () => {
    let current: Order = paid;
    const api = mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': () => ({ body: [current] }),
      'PUT /api/order/orders/1/status': () => {
        current = { ...current, status: 'cancelled', refund_status: 'refunded' };
        return { body: current };
      },
      'GET /api/payment/payments': { body: [] },
    });
    const user = userEvent.setup();
    render(
      <>
        <Harness initial={1} />
        <Toaster />
      </>,
    );
    const panel = await screen.findByRole('article', { name: 'Order #1' });
    await user.click(within(panel).getByRole('button', { name: 'Cancel and refund' }));
    let dialog = screen.getByRole('dialog', { name: 'Cancel order #1?' });
    expect(dialog).toHaveTextContent('Its payment of $29.99 is refunded in full');
    expect(within(dialog).getByRole('button', { name: 'Keep the order' })).toHaveFocus();
    await user.click(within(dialog).getByRole('button', { name: 'Keep the order' }));
    expect(api.to('PUT', '/api/order/orders/1/status')).toHaveLength(0);
    expect(within(panel).getByText('paid')).toHaveClass('badge-paid');

    await user.click(within(panel).getByRole('button', { name: 'Cancel and refund' }));
    dialog = screen.getByRole('dialog', { name: 'Cancel order #1?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel and refund' }));
    expect(await within(panel).findByText('cancelled')).toHaveClass('badge-cancelled');
    expect(await screen.findByText('Order #1 is cancelled; $29.99 is refunded.')).toBeInTheDocument();
    expect(api.to('PUT', '/api/order/orders/1/status')).toHaveLength(1);
  });

  it('marks an order paid with PUT /status and shows its manual payment', async () => {
    let current: Order = pending;
    let payments: ReturnType<typeof payment>[] = [];
    const api = mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': () => ({ body: [current] }),
      'PUT /api/order/orders/2/status': () => {
        current = { ...current, status: 'paid', payment_id: 'p-manual', updated_at: '2026-12-01T10:00:00Z' };
        payments = [payment({ id: 'p-manual', order_id: 2, amount: current.total_amount, method: 'manual' })];
        return { body: current };
      },
      'GET /api/payment/payments': () => ({ body: payments }),
    });
    const user = userEvent.setup();
    render(<Harness initial={2} />);
    const panel = await screen.findByRole('article', { name: 'Order #2' });
    await user.click(within(panel).getByRole('button', { name: 'Mark as paid' }));
    expect(await within(panel).findByText('paid')).toHaveClass('badge-paid');
    expect(within(panel).getByText(/Paid with payment p-manual/)).toBeInTheDocument();
    expect(await within(panel).findByText(/marked paid/)).toBeInTheDocument();
    expect(within(panel).queryByRole('button', { name: /^Pay / })).not.toBeInTheDocument();
    expect(api.to('PUT', '/api/order/orders/2/status').map((c) => c.body)).toEqual([{ status: 'paid' }]);
  });

  it('shows a refused status change', async () => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': { body: [paid] },
      'PUT /api/order/orders/1/status': { status: 400, body: { detail: 'Cannot change order 1 from paid to processing' } },
      'GET /api/payment/payments': { body: [] },
    });
    const user = userEvent.setup();
    render(<Harness initial={1} />);
    const panel = await screen.findByRole('article', { name: 'Order #1' });
    await user.click(within(panel).getByRole('button', { name: 'Start processing' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent(
      'Status not changed: Cannot change order 1 from paid to processing',
    );
  });

  it('opens an order of another user by its id', async () => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': { body: [] },
      'GET /api/order/orders/9': { body: order({ id: 9, user_id: 'bob', status: 'shipped' }) },
      'GET /api/payment/payments': { body: [] },
    });
    render(<Harness initial={9} />);
    const panel = await screen.findByRole('article', { name: 'Order #9' });
    expect(within(panel).getByText(/^bob · placed/)).toBeInTheDocument();
    expect(within(panel).getByRole('button', { name: 'Mark delivered' })).toBeInTheDocument();
  });

  it('says when the user has no orders and when they cannot be loaded', async () => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': [{ body: [] }] });
    const { unmount } = render(<Harness />);
    expect(await screen.findByText(/No orders yet/)).toBeInTheDocument();
    unmount();
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/order/orders/user/*': { status: 503, body: { detail: 'Order service unavailable' } } });
    render(<Harness />);
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Could not load the orders: Order service unavailable',
    );
  });
});

describe('OrderDetails expiry', () => {
  it('says by when an unpaid order must be paid, and that an expired one was cancelled', () => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/payment/payments': { body: [] } });
    const { unmount } = render(
      <OrderDetails
        order={order({ status: 'pending', expires_at: '2025-01-02T10:30:00Z' })}
        onChanged={() => {}}
      />,
    );
    expect(screen.getByTestId('expires')).toHaveTextContent(/Unpaid orders expire: pay by .+/);
    unmount();
    render(
      <OrderDetails order={order({ status: 'cancelled', reason: 'expired' })} onChanged={() => {}} />,
    );
    expect(screen.getByTestId('expired')).toHaveTextContent('not paid in time');
    expect(screen.queryByTestId('expires')).not.toBeInTheDocument();
  });
});

describe('OrderDetails refund', () => {
  it('says a cancelled paid order was refunded, or that its refund is on its way', async () => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/payment/payments': {
        body: [
          {
            id: 'pay-1',
            order_id: 1,
            amount: 29.99,
            status: 'success',
            method: 'card',
            created_at: '2025-01-02T10:00:00Z',
            refund: { id: 'ref-1', amount: 29.99, created_at: '2025-01-02T11:00:00Z' },
          },
        ],
      },
    });
    const cancelled = { status: 'cancelled' as const, payment_id: 'pay-1', total_amount: 29.99 };
    const { unmount } = render(
      <OrderDetails
        order={order({ ...cancelled, refund_status: 'refunded', refunded_at: '2025-01-02T11:00:00Z' })}
        onChanged={() => {}}
      />,
    );
    expect(screen.getByTestId('refund')).toHaveTextContent(/^Refunded \$29\.99 on .+\.$/);
    expect(await screen.findByText(/refunded \$29\.99 on/)).toBeInTheDocument();
    unmount();
    render(<OrderDetails order={order({ ...cancelled, refund_status: 'pending' })} onChanged={() => {}} />);
    expect(screen.getByTestId('refund')).toHaveTextContent('on its way');
  });
});

describe('OrderDetails actions', () => {
  const cases: Array<[OrderStatus, string[]]> = [
    ['pending', ['Pay $29.99', 'Confirm', 'Mark as paid', 'Cancel order']],
    ['confirmed', ['Pay $29.99', 'Mark as paid', 'Cancel order']],
    ['paid', ['Start processing', 'Cancel and refund']],
    ['processing', ['Mark shipped', 'Cancel and refund']],
    ['shipped', ['Mark delivered']],
    ['delivered', []],
    ['cancelled', []],
  ];
  it.each(cases)('offers only the allowed moves from %s', (status, buttons) => {
    mockFetch({
      'GET /api/order/events': { body: [] },
      'GET /api/payment/payments': { body: [] } });
    const o: Order = order({ status });
    render(<OrderDetails order={o} onChanged={() => {}} />);
    const names = screen.queryAllByRole('button').map((b) => b.textContent);
    expect(names).toEqual(buttons);
    expect(details()).toBeInTheDocument();
  });
});
