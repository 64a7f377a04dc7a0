import { useCallback } from 'react';
import {
  listAllOrders,
  listAllProducts,
  ORDER_STATUSES,
  type Order,
  type OrderEvent,
  type OrderStatus,
  type Product,
} from '../api';
import { formatDateTime, formatTime, humanize } from '../format';
import { useOrderFeed, useReloadOnFeed } from '../hooks/orderFeed';
import { useResource } from '../hooks/useResource';
import { formatCents, formatMoney, toCents } from '../money';
import { countsAsRevenue } from '../orderStatus';
import { ErrorMessage, Loading, StatusBadge } from './common';

export interface Stats {
  products: number;
  orders: number;
  /** Cents of the orders that were paid (paid, processing, shipped, delivered). */
  revenueCents: number;
  byStatus: Record<OrderStatus, number>;
}

export function computeStats(products: Product[], orders: Order[]): Stats {
  const byStatus = Object.fromEntries(ORDER_STATUSES.map((s) => [s, 0])) as Record<
    OrderStatus,
    number
  >;
  let revenueCents = 0;
  for (const order of orders) {
    byStatus[order.status] = (byStatus[order.status] ?? 0) + 1;
    if (countsAsRevenue(order.status)) revenueCents += toCents(order.total_amount);
  }
  return { products: products.length, orders: orders.length, revenueCents, byStatus };
}

/** Orders by status as horizontal bars (plain CSS). */
export function StatusChart({ byStatus }: { byStatus: Record<OrderStatus, number> }) {
  const max = Math.max(1, ...ORDER_STATUSES.map((s) => byStatus[s]));
  return (
    <ul className="bars" aria-label="Orders by status">
      {ORDER_STATUSES.map((status) => {
        const count = byStatus[status];
        return (
          <li key={status} className="bar-row">
            <span className="bar-label">{status}</span>
            <span className="bar-track" aria-hidden="true">
              <span
                className={`bar bar-${status}`}
                style={{ width: `${(count / max) * 100}%` }}
              />
            </span>
            <span className="bar-value">
              {count}
              <span className="visually-hidden"> {count === 1 ? 'order' : 'orders'}</span>
            </span>
          </li>
        );
      })}
    </ul>
  );
}

function describeEvent(event: OrderEvent): string {
  const d = event.data;
  const change =
    d.previous_status && d.previous_status !== d.status
      ? `${d.previous_status} → ${d.status}`
      : d.status;
  return `Order #${d.order_id} · ${d.user_id} · ${formatMoney(d.total_amount)} · ${change}`;
}

export function EventFeed() {
  const { events, mode } = useOrderFeed();
  return (
    <section className="panel" aria-labelledby="feed-title">
      <div className="panel-head">
        <h2 id="feed-title">Live order events</h2>
      </div>
      {events.length === 0 ? (
        <p className="muted">
          {mode === 'polling'
            ? 'The event stream is unavailable; the figures refresh every 5 seconds.'
            : 'Waiting for order events… They appear here as orders are placed, paid and moved along.'}
        </p>
      ) : (
        <ol className="feed" aria-live="polite" aria-label="Order events, newest first">
          {events.map((event) => (
            <li key={event.event_id} className="feed-item">
              <time dateTime={event.timestamp} className="feed-time">
                {formatTime(event.timestamp)}
              </time>
              <span className={`feed-type feed-type-${event.event_type}`}>
                {humanize(event.event_type)}
              </span>
              <span className="feed-text">{describeEvent(event)}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function DashboardTab({ onOpenOrder }: { onOpenOrder: (orderId: number) => void }) {
  // Products and orders load apart: one service down leaves the other's
  // figures on the page, each failure with its own Retry.
  const loadProducts = useCallback((signal: AbortSignal) => listAllProducts({}, signal), []);
  const loadOrders = useCallback((signal: AbortSignal) => listAllOrders(signal), []);
  const products = useResource(['dashboard', 'products'], loadProducts);
  const orders = useResource(['dashboard', 'orders'], loadOrders);
  useReloadOnFeed(products.reload);
  useReloadOnFeed(orders.reload);

  const stats = orders.data ? computeStats(products.data ?? [], orders.data) : null;
  const recent = orders.data?.slice(0, 8) ?? [];
  const pending = (loading: boolean) => (loading ? '…' : '—');

  return (
    <div className="dashboard">
      <ErrorMessage onRetry={() => products.reload()}>
        {products.error && `Could not load the products: ${products.error}`}
      </ErrorMessage>
      <ErrorMessage onRetry={() => orders.reload()}>
        {orders.error && `Could not load the orders: ${orders.error}`}
      </ErrorMessage>
      <section className="stats" aria-label="Totals">
        <div className="stat">
          <span className="stat-label">Products</span>
          <span className="stat-value" data-testid="stat-products">
            {products.data ? products.data.length : pending(products.loading)}
          </span>
        </div>
        <div className="stat">
          <span className="stat-label">Orders</span>
          <span className="stat-value" data-testid="stat-orders">
            {stats ? stats.orders : pending(orders.loading)}
          </span>
        </div>
        <div className="stat">
          <span className="stat-label">Revenue</span>
          <span className="stat-value" data-testid="stat-revenue">
            {stats ? formatCents(stats.revenueCents) : pending(orders.loading)}
          </span>
          <span className="stat-note">paid, processing, shipped and delivered orders</span>
        </div>
      </section>
      <div className="dashboard-grid">
        {orders.loading && !orders.data && <Loading>Loading the orders…</Loading>}
        {stats && (
          <>
            <section className="panel" aria-labelledby="chart-title">
              <div className="panel-head">
                <h2 id="chart-title">Orders by status</h2>
              </div>
              <StatusChart byStatus={stats.byStatus} />
            </section>
            <section className="panel" aria-labelledby="recent-title">
              <div className="panel-head">
                <h2 id="recent-title">Recent orders</h2>
              </div>
              {recent.length === 0 ? (
                <p className="muted">No orders yet.</p>
              ) : (
                <table className="table recent-orders">
                  <thead>
                    <tr>
                      <th scope="col">Order</th>
                      <th scope="col">User</th>
                      <th scope="col">Status</th>
                      <th scope="col" className="num">
                        Total
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {recent.map((order) => (
                      <tr key={order.id}>
                        <td>
                          <button
                            type="button"
                            className="link-button"
                            onClick={() => onOpenOrder(order.id)}
                          >
                            #{order.id}
                          </button>
                          <span className="cell-note">{formatDateTime(order.created_at)}</span>
                        </td>
                        <td className="cell-user">{order.user_id}</td>
                        <td>
                          <StatusBadge status={order.status} />
                        </td>
                        <td className="num">{formatMoney(order.total_amount)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </>
        )}
        <EventFeed />
      </div>
    </div>
  );
}
