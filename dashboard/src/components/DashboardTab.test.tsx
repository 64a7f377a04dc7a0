import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { OrderFeedProvider } from '../hooks/orderFeed';
import { MockEventSource, mockFetch, order, orderEvent, product } from '../test/mocks';
import { computeStats, DashboardTab } from './DashboardTab';

const orders = [
  order({ id: 6, status: 'cancelled', total_amount: 500 }),
  order({ id: 5, status: 'delivered', total_amount: 0.1 }),
  order({ id: 4, status: 'shipped', total_amount: 0.2 }),
  order({ id: 3, status: 'processing', total_amount: 1000.0 }),
  order({ id: 2, status: 'paid', total_amount: 29.99, user_id: 'bob' }),
  order({ id: 1, status: 'pending', total_amount: 10 }),
];
const products = [product({ id: 1 }), product({ id: 2 }), product({ id: 3 })];

describe('computeStats', () => {
  it('counts revenue from paid, processing, shipped and delivered orders, in cents', () => {
    const stats = computeStats(products, orders);
    expect(stats.revenueCents).toBe(10 + 20 + 100000 + 2999);
    expect(stats.products).toBe(3);
    expect(stats.orders).toBe(6);
    expect(stats.byStatus).toEqual({
      pending: 1,
      confirmed: 0,
      paid: 1,
      processing: 1,
      shipped: 1,
      delivered: 1,
      cancelled: 1,
    });
  });
});

describe('DashboardTab', () => {
  it('shows totals, orders by status, recent orders and live events', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': { body: products },
      'GET /api/order/orders': [
        { body: orders },
        { body: [order({ id: 7, status: 'pending', total_amount: 5, user_id: 'carol' }), ...orders] },
      ],
    });
    const onOpenOrder = vi.fn();
    const user = userEvent.setup();
    render(
      <OrderFeedProvider>
        <DashboardTab onOpenOrder={onOpenOrder} />
      </OrderFeedProvider>,
    );
    expect(screen.getByText('Loading the orders…')).toBeInTheDocument();
    // The products may answer first: the revenue waits for the orders.
    await waitFor(() => expect(screen.getByTestId('stat-revenue')).toHaveTextContent('$1,030.29'));
    expect(screen.getByTestId('stat-products')).toHaveTextContent('3');
    expect(screen.getByTestId('stat-orders')).toHaveTextContent('6');

    const chart = screen.getByRole('list', { name: 'Orders by status' });
    const rows = within(chart).getAllByRole('listitem');
    expect(rows.map((r) => r.textContent)).toEqual([
      'pending1 order',
      'confirmed0 orders',
      'paid1 order',
      'processing1 order',
      'shipped1 order',
      'delivered1 order',
      'cancelled1 order',
    ]);

    const recent = screen.getByRole('table');
    expect(within(recent).getAllByRole('row')).toHaveLength(7);
    await user.click(within(recent).getByRole('button', { name: '#2' }));
    expect(onOpenOrder).toHaveBeenCalledWith(2);

    expect(screen.getByText(/Waiting for order events/)).toBeInTheDocument();
    act(() => {
      const es = MockEventSource.latest();
      es.open();
      es.emit(orderEvent({ data: { order_id: 7, user_id: 'carol', total_amount: 5, status: 'pending' } }));
    });
    const feed = screen.getByRole('list', { name: 'Order events, newest first' });
    expect(within(feed).getByText('Order #7 · carol · $5.00 · pending')).toBeInTheDocument();
    expect(within(feed).getByText('Order created')).toBeInTheDocument();
    // The event makes the figures reload.
    expect(await screen.findByText('7')).toBeInTheDocument();
    expect(screen.getByTestId('stat-orders')).toHaveTextContent('7');
    expect(api.to('GET', '/api/order/orders').length).toBe(2);
  });

  it('shows a status change in the feed', async () => {
    mockFetch({
      'GET /api/catalog/products': { body: [] },
      'GET /api/order/orders': { body: [] },
    });
    render(
      <OrderFeedProvider>
        <DashboardTab onOpenOrder={() => {}} />
      </OrderFeedProvider>,
    );
    await screen.findByText('No orders yet.');
    act(() =>
      MockEventSource.latest().emit(
        orderEvent({
          event_type: 'order_status_updated',
          data: { order_id: 3, status: 'shipped', previous_status: 'processing', total_amount: 12.5 },
        }),
      ),
    );
    expect(screen.getByText('Order #3 · alice · $12.50 · processing → shipped')).toBeInTheDocument();
  });

  it('shows the order figures when only the catalog is down, with a Retry', async () => {
    const api = mockFetch({
      'GET /api/catalog/products': [
        { status: 503, body: { detail: 'Catalog unreachable' } },
        { body: [product({ id: 1 }), product({ id: 2 })] },
      ],
      'GET /api/order/orders': { body: [order({ id: 1, status: 'paid', total_amount: 12.5 })] },
    });
    const user = userEvent.setup();
    render(<DashboardTab onOpenOrder={() => {}} />);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Could not load the products: Catalog unreachable');
    // The orders' panels do not depend on the catalog.
    expect(await screen.findByTestId('stat-revenue')).toHaveTextContent('$12.50');
    expect(screen.getByTestId('stat-orders')).toHaveTextContent('1');
    expect(screen.getByTestId('stat-products')).toHaveTextContent('—');
    expect(screen.getByRole('heading', { name: 'Recent orders' })).toBeInTheDocument();
    await user.click(within(alert).getByRole('button', { name: 'Retry' }));
    expect(await screen.findByTestId('stat-products')).toHaveTextContent('2');
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(api.to('GET', '/api/catalog/products')).toHaveLength(2);
  });

  it('shows the products when the order service is down', async () => {
    mockFetch({
      'GET /api/catalog/products': { body: [product({ id: 1 })] },
      'GET /api/order/orders': { status: 503, body: { detail: 'order service unavailable' } },
    });
    render(<DashboardTab onOpenOrder={() => {}} />);
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Could not load the orders: order service unavailable',
    );
    expect(await screen.findByTestId('stat-products')).toHaveTextContent('1');
  });
});
