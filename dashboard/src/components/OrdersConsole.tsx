import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import {
  ApiError,
  errorMessage,
  getOrder,
  listOrderPage,
  ORDER_STATUSES,
  type ListPage,
  type Order,
} from '../api';
import { formatDateTime, plural } from '../format';
import { BUSY_RELOAD_MS, useReloadOnFeed } from '../hooks/orderFeed';
import { formatMoney } from '../money';
import {
  apiFilters,
  DEFAULT_VIEW,
  PAGE_SIZE,
  parseView,
  searchTarget,
  viewSearch,
  type OrdersView,
} from '../ordersView';
import { queryClient } from '../queryClient';
import { inAppClick } from '../router';
import { ErrorMessage, Loading, StatusBadge } from './common';
import { Pager, rangeLabel } from './Pager';

/** The page of `view`: a page of the list, or the one order searched by id. */
async function loadView(view: OrdersView, signal: AbortSignal): Promise<ListPage<Order>> {
  const target = searchTarget(view.q);
  if (target && 'orderId' in target) {
    try {
      const order = await getOrder(target.orderId, signal);
      return { rows: [order], next: null, prev: null, total: 1 };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        return { rows: [], next: null, prev: null, total: 0 };
      }
      throw err;
    }
  }
  return listOrderPage(apiFilters(view), view.position, PAGE_SIZE, signal);
}

const SORTS = [
  { value: 'created-desc', label: 'Newest first' },
  { value: 'created-asc', label: 'Oldest first' },
  { value: 'total-desc', label: 'Largest total' },
  { value: 'total-asc', label: 'Smallest total' },
] as const;

/** The filters form: applied on submit, the selects at once. */
function Filters({ view, onApply }: { view: OrdersView; onApply: (view: OrdersView) => void }) {
  const [draft, setDraft] = useState(view);
  useEffect(() => setDraft(view), [view]);
  const apply = (next: OrdersView) => onApply({ ...next, position: null, start: 1 });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    apply(draft);
  };
  const field = (name: keyof OrdersView) => ({
    value: String(draft[name]),
    onChange: (e: { target: { value: string } }) => setDraft({ ...draft, [name]: e.target.value }),
  });
  const filtered = viewSearch({ ...view, position: null, start: 1 }) !== '';
  return (
    <form role="search" aria-label="Orders" className="order-filters" onSubmit={submit}>
      <div className="field field-wide">
        <label htmlFor="orders-q">Order id or customer</label>
        <input id="orders-q" type="search" placeholder="#1024 or user id" {...field('q')} />
      </div>
      <div className="field">
        <label htmlFor="orders-status">Status</label>
        <select
          id="orders-status"
          value={draft.status}
          onChange={(e) => apply({ ...draft, status: e.target.value as OrdersView['status'] })}
        >
          <option value="">Any status</option>
          {ORDER_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="orders-from">Placed from</label>
        <input id="orders-from" type="date" {...field('placedFrom')} />
      </div>
      <div className="field">
        <label htmlFor="orders-to">Placed to</label>
        <input id="orders-to" type="date" {...field('placedTo')} />
      </div>
      <div className="field field-narrow">
        <label htmlFor="orders-min">Total from</label>
        <input id="orders-min" inputMode="decimal" {...field('totalMin')} />
      </div>
      <div className="field field-narrow">
        <label htmlFor="orders-max">Total to</label>
        <input id="orders-max" inputMode="decimal" {...field('totalMax')} />
      </div>
      <div className="field">
        <label htmlFor="orders-sort">Sort</label>
        <select
          id="orders-sort"
          value={`${draft.sort}-${draft.order}`}
          onChange={(e) => {
            const [sort, order] = e.target.value.split('-') as [
              OrdersView['sort'],
              OrdersView['order'],
            ];
            apply({ ...draft, sort, order });
          }}
        >
          {SORTS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </div>
      <div className="filter-actions">
        <button type="submit" className="button button-primary">
          Apply
        </button>
        {filtered && (
          <button type="button" className="button" onClick={() => onApply(DEFAULT_VIEW)}>
            Clear
          </button>
        )}
      </div>
    </form>
  );
}

/**
 * Every order, as staff see them: one page at a time from the server
 * (cursor paging, the total counted along an index), with filters, sort and
 * search by order id or customer, all kept in the address bar.
 */
export function OrdersConsole({
  search,
  onNavigate,
  onOpen,
}: {
  /** The query string that holds the view. */
  search: string;
  /** Shows another view (a new entry in the history). */
  onNavigate: (search: string) => void;
  onOpen: (orderId: number) => void;
}) {
  const view = parseView(search);
  const key = ['orders', 'console', viewSearch(view)];
  const page = useQuery(
    {
      queryKey: key,
      // The page comes with the view it is of: while the next page loads,
      // the one shown keeps its own range.
      queryFn: async ({ signal }) => ({ view, page: await loadView(view, signal) }),
      placeholderData: keepPreviousData,
    },
    queryClient,
  );
  const { refetch } = page;
  const reload = useCallback(() => void refetch({ cancelRefetch: false }), [refetch]);
  useReloadOnFeed(reload, BUSY_RELOAD_MS);
  const show = (next: OrdersView) => onNavigate(viewSearch(next));
  const shown = page.data?.view ?? view;
  const data = page.data?.page;
  const target = searchTarget(shown.q);

  return (
    <section className="panel orders-console" aria-labelledby="orders-title">
      <div className="panel-head">
        <h2 id="orders-title">All orders</h2>
        {data && data.total !== null && (
          <span className="muted">{plural(data.total, 'order')}</span>
        )}
      </div>
      <Filters view={view} onApply={show} />
      {page.isPending && <Loading>Loading orders…</Loading>}
      <ErrorMessage onRetry={() => void refetch()}>
        {page.isError && `Could not load the orders: ${errorMessage(page.error)}`}
      </ErrorMessage>
      {data && (
        <>
          <div className="table-scroll">
            <table className="table orders-table" aria-busy={page.isFetching || undefined}>
              <caption className="visually-hidden">Orders, {rangeLabel(shown, data)}</caption>
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">Customer</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Total
                  </th>
                  <th scope="col" className="num">
                    Items
                  </th>
                  <th scope="col">Placed</th>
                </tr>
              </thead>
              <tbody>
                {data.rows.map((order) => (
                  <tr key={order.id}>
                    <td>
                      <a
                        href={`/orders/${order.id}`}
                        onClick={inAppClick(() => onOpen(order.id))}
                      >
                        #{order.id}
                      </a>
                    </td>
                    <td className="cell-user">
                      <button
                        type="button"
                        className="link-button"
                        title={`Orders of ${order.user_id}`}
                        onClick={() => show({ ...DEFAULT_VIEW, q: order.user_id })}
                      >
                        {order.user_id}
                      </button>
                    </td>
                    <td>
                      <StatusBadge status={order.status} />
                      {order.refund_status === 'refunded' && (
                        <span className="cell-note">refunded</span>
                      )}
                    </td>
                    <td className="num">{formatMoney(order.total_amount)}</td>
                    <td className="num">{order.items.reduce((n, i) => n + i.quantity, 0)}</td>
                    <td>{formatDateTime(order.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {data.rows.length === 0 && (
            <p className="muted">
              {target && 'orderId' in target
                ? `No order #${target.orderId}.`
                : 'No orders match these filters.'}
            </p>
          )}
          <Pager at={shown} page={data} go={(at) => show({ ...shown, ...at })} />
        </>
      )}
    </section>
  );
}
