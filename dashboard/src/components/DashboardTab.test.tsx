import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Stats } from '../api';
import { OrderFeedProvider } from '../hooks/orderFeed';
import { MockEventSource, mockFetch, order, orderEvent } from '../test/mocks';
import { DashboardTab } from './DashboardTab';

/** uPlot stands in for a canvas jsdom does not have: each chart drawn is
 * recorded with its data. */
const drawn = vi.hoisted(() => [] as { data: unknown[][]; destroyed: boolean }[]);
vi.mock('uplot', () => {
  class FakePlot {
    static paths = { bars: () => () => null };
    static tzDate = (date: Date) => date;
    record: { data: unknown[][]; destroyed: boolean };
    constructor(_options: unknown, data: unknown[][]) {
      this.record = { data, destroyed: false };
      drawn.push(this.record);
    }
    setSize() {}
    destroy() {
      this.record.destroyed = true;
    }
  }
  return { default: FakePlot };
});

beforeEach(() => {
  drawn.length = 0;
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      disconnect() {}
    },
  );
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(
    {} as CanvasRenderingContext2D,
  );
});

function stats(over: Partial<Stats> = {}): Stats {
  return {
    from: '2026-11-06T00:00:00Z',
    to: '2026-12-06T00:00:00Z',
    bucket: 'day',
    orders: 1234,
    by_status: {
      pending: 4,
      confirmed: 0,
      paid: 30,
      processing: 100,
      shipped: 300,
      delivered: 700,
      cancelled: 100,
    },
    paid_orders: 1130,
    revenue: 56789.5,
    average_order_value: 50.26,
    refunds: 12,
    refunded: 480.25,
    series: [
      { start: '2026-12-04T00:00:00Z', orders: 40, revenue: 2000 },
      { start: '2026-12-05T00:00:00Z', orders: 0, revenue: 0 },
      { start: '2026-12-06T00:00:00Z', orders: 7, revenue: 350.5 },
    ],
    ...over,
  };
}

const recent = [order({ id: 8, user_id: 'carol' }), order({ id: 7, status: 'paid' })];

function renderTab(figures = true) {
  const onOpenOrder = vi.fn();
  render(
    <OrderFeedProvider>
      <DashboardTab onOpenOrder={onOpenOrder} figures={figures} />
    </OrderFeedProvider>,
  );
  return onOpenOrder;
}

describe('DashboardTab', () => {
  it('shows the figures of /stats, their chart, the recent orders and the backfilled feed', async () => {
    const backfill = [
      orderEvent({ data: { order_id: 7, user_id: 'alice', total_amount: 29.99, status: 'pending' } }),
      orderEvent({
        event_type: 'order_paid',
        data: { order_id: 7, total_amount: 29.99, status: 'paid', previous_status: 'pending' },
      }),
    ];
    const api = mockFetch({
      'GET /api/order/stats': [{ body: stats() }, { body: stats({ orders: 1235 }) }],
      'GET /api/catalog/products': { body: [], headers: { 'X-Total-Count': '1000000' } },
      'GET /api/order/orders': { body: recent },
      'GET /api/order/events': { body: backfill },
    });
    const user = userEvent.setup();
    const onOpenOrder = renderTab();

    expect(await screen.findByTestId('stat-revenue')).toHaveTextContent('$56,789.50');
    expect(screen.getByTestId('stat-orders')).toHaveTextContent('1,234');
    expect(screen.getByTestId('stat-average')).toHaveTextContent('$50.26');
    expect(screen.getByTestId('stat-refunded')).toHaveTextContent('$480.25');
    expect(screen.getByText('12 refunds')).toBeInTheDocument();
    expect(await screen.findByText('1,000,000')).toBeInTheDocument();
    const statsCall = api.to('GET', '/api/order/stats')[0]!;
    expect(statsCall.query.get('bucket')).toBe('day');
    const from = Date.parse(statsCall.query.get('from')!);
    expect(Math.abs(Date.now() - 30 * 86_400_000 - from)).toBeLessThan(60_000);
    expect(api.to('GET', '/api/catalog/products')[0]!.url).toBe(
      '/api/catalog/products?limit=1&count=true',
    );

    // The chart gets the series: times, revenue, orders.
    await waitFor(() => expect(drawn).toHaveLength(1));
    expect(drawn[0]!.data).toEqual([
      [Date.parse('2026-12-04T00:00:00Z') / 1000, Date.parse('2026-12-05T00:00:00Z') / 1000, Date.parse('2026-12-06T00:00:00Z') / 1000],
      [2000, 0, 350.5],
      [40, 0, 7],
    ]);
    expect(screen.getByRole('img', { name: /47 orders over 3 days/ })).toBeInTheDocument();
    const figures = within(screen.getByRole('group')).getByRole('table');
    expect(within(figures).getAllByRole('row').map((r) => r.textContent)).toEqual([
      'DayOrdersRevenue',
      'Dec 67$350.50',
      'Dec 50$0.00',
      'Dec 440$2,000.00',
    ]);

    const bars = screen.getByRole('list', { name: 'Orders by status' });
    expect(within(bars).getAllByRole('listitem')[5]).toHaveTextContent('delivered700 orders');

    const table = within(screen.getByRole('region', { name: 'Recent orders' })).getByRole('table');
    await user.click(within(table).getByRole('button', { name: '#8' }));
    expect(onOpenOrder).toHaveBeenCalledWith(8);

    // The feed shows the latest events at once, newest first.
    const feed = await screen.findByRole('list', { name: 'Order events, newest first' });
    expect(within(feed).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      expect.stringContaining('Order #7 · alice · $29.99 · pending → paid'),
      expect.stringContaining('Order #7 · alice · $29.99 · pending'),
    ]);
    expect(api.to('GET', '/api/order/events')[0]!.url).toBe('/api/order/events?last=true&limit=30');
    const es = await vi.waitFor(() => MockEventSource.latest());
    expect(es.url).toBe(`/api/order/events/stream?after=${backfill[1]!.sequence}`);

    // A new event is added on top, and the figures reload.
    act(() => {
      es.open();
      es.emit(orderEvent({ data: { order_id: 9, user_id: 'dan', total_amount: 5, status: 'pending' } }));
    });
    expect(within(feed).getAllByRole('listitem')[0]).toHaveTextContent('Order #9 · dan · $5.00 · pending');
    expect(await screen.findByText('1,235')).toBeInTheDocument();
    expect(api.to('GET', '/api/order/events')).toHaveLength(1);
  });

  it('shows the last 24 hours by hour', async () => {
    const api = mockFetch({
      'GET /api/order/stats': (call) => ({
        body: stats({ bucket: call.query.get('bucket') === 'hour' ? 'hour' : 'day', orders: 5 }),
      }),
      'GET /api/catalog/products': { body: [], headers: { 'X-Total-Count': '3' } },
      'GET /api/order/orders': { body: [] },
      'GET /api/order/events': { body: [] },
    });
    const user = userEvent.setup();
    renderTab();
    await screen.findByTestId('revenue-chart');
    await user.selectOptions(screen.getByLabelText('Figures for'), 'Last 24 hours');
    await screen.findByRole('img', { name: /by hour/ });
    const last = api.to('GET', '/api/order/stats').at(-1)!;
    expect(last.query.get('bucket')).toBe('hour');
    expect(Math.abs(Date.now() - 86_400_000 - Date.parse(last.query.get('from')!))).toBeLessThan(60_000);
    expect(screen.getByText('placed in the last 24 hours')).toBeInTheDocument();
  });

  it('keeps the other panels when the figures cannot be loaded, and retries', async () => {
    const api = mockFetch({
      'GET /api/order/stats': [
        { status: 503, body: { detail: 'Order service unavailable' } },
        { body: stats() },
      ],
      'GET /api/catalog/products': { body: [], headers: { 'X-Total-Count': '3' } },
      'GET /api/order/orders': { body: recent },
      'GET /api/order/events': { body: [] },
    });
    const user = userEvent.setup();
    renderTab();
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Could not load the figures: Order service unavailable');
    expect(await screen.findByRole('button', { name: '#8' })).toBeInTheDocument();
    expect(screen.getByTestId('stat-products')).toHaveTextContent('3');
    await user.click(within(alert).getByRole('button', { name: 'Retry' }));
    expect(await screen.findByTestId('stat-revenue')).toHaveTextContent('$56,789.50');
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(api.to('GET', '/api/order/stats')).toHaveLength(2);
  });

  it('shows a customer their recent orders and feed, without the shop’s figures', async () => {
    const api = mockFetch({
      'GET /api/order/orders': { body: recent },
      'GET /api/order/events': { body: [] },
    });
    renderTab(false);
    expect(await screen.findByRole('button', { name: '#7' })).toBeInTheDocument();
    expect(screen.queryByTestId('stat-revenue')).not.toBeInTheDocument();
    expect(api.to('GET', '/api/order/stats')).toHaveLength(0);
    expect(screen.getByText(/Waiting for order events/)).toBeInTheDocument();
  });
});
