import { useCallback, useState, type ReactNode } from 'react';
import {
  countProducts,
  getStats,
  listOrders,
  ORDER_STATUSES,
  type Bucket,
  type OrderEvent,
  type OrderStatus,
} from '../api';
import { formatCount, formatDateTime, formatTime, humanize, plural } from '../format';
import { BUSY_RELOAD_MS, useOrderFeed, useReloadOnFeed } from '../hooks/orderFeed';
import { useResource } from '../hooks/useResource';
import { formatMoney } from '../money';
import { ErrorMessage, Loading, StatusBadge } from './common';
import { RevenueChart } from './RevenueChart';

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
        <ol
          className="feed"
          aria-live="polite"
          aria-label="Order events, newest first"
          // It scrolls: the keyboard can reach it.
          tabIndex={0}
        >
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

/** The ranges the figures can cover. */
export const RANGES = [
  { id: '24h', label: 'Last 24 hours', days: 1, bucket: 'hour' },
  { id: '7d', label: 'Last 7 days', days: 7, bucket: 'day' },
  { id: '30d', label: 'Last 30 days', days: 30, bucket: 'day' },
  { id: '12m', label: 'Last 12 months', days: 365, bucket: 'day' },
] as const satisfies readonly { id: string; label: string; days: number; bucket: Bucket }[];

export type RangeId = (typeof RANGES)[number]['id'];

function Figure({
  label,
  testId,
  note,
  children,
}: {
  label: string;
  testId: string;
  note?: string;
  children: ReactNode;
}) {
  return (
    <div className="stat">
      <span className="stat-label">{label}</span>
      <span className="stat-value" data-testid={testId}>
        {children}
      </span>
      {note && <span className="stat-note">{note}</span>}
    </div>
  );
}

/** The shop's figures over a range (`GET /stats`, staff): totals, a chart
 * of revenue and orders over time, orders by status. */
function Figures() {
  const loadProducts = useCallback((signal: AbortSignal) => countProducts(signal), []);
  const products = useResource(['dashboard', 'products'], loadProducts);
  const [rangeId, setRangeId] = useState<RangeId>('30d');
  const range = RANGES.find((r) => r.id === rangeId)!;
  const load = useCallback(
    (signal: AbortSignal) => {
      const from = new Date(Date.now() - range.days * 86_400_000).toISOString();
      return getStats({ from, bucket: range.bucket }, signal);
    },
    [range],
  );
  const stats = useResource(['stats', rangeId], load);
  useReloadOnFeed(stats.reload, BUSY_RELOAD_MS);
  const s = stats.data;
  const pending = (loading: boolean) => (loading ? '…' : '—');
  const during = range.label.toLowerCase();

  return (
    <>
      <div className="figures-head">
        <label htmlFor="stats-range">Figures for</label>
        <select
          id="stats-range"
          value={rangeId}
          onChange={(e) => setRangeId(e.target.value as RangeId)}
        >
          {RANGES.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
      </div>
      <ErrorMessage onRetry={() => products.reload()}>
        {products.error && `Could not load the products: ${products.error}`}
      </ErrorMessage>
      <ErrorMessage onRetry={() => stats.reload()}>
        {stats.error && `Could not load the figures: ${stats.error}`}
      </ErrorMessage>
      <section className="stats" aria-label="Totals">
        <Figure label="Products" testId="stat-products" note="in the catalog">
          {products.data != null ? formatCount(products.data) : pending(products.loading)}
        </Figure>
        <Figure label="Orders" testId="stat-orders" note={`placed in the ${during}`}>
          {s ? formatCount(s.orders) : pending(stats.loading)}
        </Figure>
        <Figure
          label="Revenue"
          testId="stat-revenue"
          note="paid, processing, shipped and delivered orders"
        >
          {s ? formatMoney(s.revenue) : pending(stats.loading)}
        </Figure>
        <Figure
          label="Average order"
          testId="stat-average"
          note={s ? `over ${plural(s.paid_orders, 'paid order')}` : undefined}
        >
          {s ? formatMoney(s.average_order_value) : pending(stats.loading)}
        </Figure>
        <Figure
          label="Refunded"
          testId="stat-refunded"
          note={s ? plural(s.refunds, 'refund') : undefined}
        >
          {s ? formatMoney(s.refunded) : pending(stats.loading)}
        </Figure>
      </section>
      {stats.loading && !s && <Loading>Loading the figures…</Loading>}
      {s && (
        <div className="dashboard-grid figures-grid">
          <section className="panel" aria-labelledby="chart-title">
            <div className="panel-head">
              <h2 id="chart-title">Revenue and orders</h2>
              <span className="muted">{range.label}</span>
            </div>
            <RevenueChart series={s.series} bucket={s.bucket} />
          </section>
          <section className="panel" aria-labelledby="status-title">
            <div className="panel-head">
              <h2 id="status-title">Orders by status</h2>
            </div>
            <StatusChart byStatus={s.by_status} />
          </section>
        </div>
      )}
    </>
  );
}

/** The latest orders (the caller's own, for a customer). */
function RecentOrders({ onOpenOrder }: { onOpenOrder: (orderId: number) => void }) {
  const load = useCallback((signal: AbortSignal) => listOrders({ limit: 8 }, signal), []);
  const orders = useResource(['dashboard', 'recent'], load);
  useReloadOnFeed(orders.reload, BUSY_RELOAD_MS);
  return (
    <section className="panel" aria-labelledby="recent-title">
      <div className="panel-head">
        <h2 id="recent-title">Recent orders</h2>
      </div>
      {orders.loading && <Loading>Loading the orders…</Loading>}
      <ErrorMessage onRetry={() => orders.reload()}>
        {orders.error && `Could not load the orders: ${orders.error}`}
      </ErrorMessage>
      {orders.data &&
        (orders.data.length === 0 ? (
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
              {orders.data.map((order) => (
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
        ))}
    </section>
  );
}

/**
 * The dashboard: for staff (or anyone with auth off) the shop's figures
 * over a range with a chart, then the recent orders and the live feed,
 * which fills itself with the latest events and follows new ones.
 */
export function DashboardTab({
  onOpenOrder,
  figures = true,
}: {
  onOpenOrder: (orderId: number) => void;
  /** Show the shop's figures (`GET /stats` is for staff). */
  figures?: boolean;
}) {
  return (
    <div className="dashboard">
      {figures && <Figures />}
      <div className="dashboard-grid">
        <RecentOrders onOpenOrder={onOpenOrder} />
        <EventFeed />
      </div>
    </div>
  );
}
