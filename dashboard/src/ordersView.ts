// The staff console's orders table as the address bar holds it, so that a
// filtered page can be bookmarked, shared and reached again with Back:
// `/orders?status=paid&sort=total&after=…&from=51`.

import type { OrderFilters, OrderStatus, Position, SortOrder } from './api';
import { ORDER_STATUSES } from './api';

/** Rows per page. */
export const PAGE_SIZE = 50;

export interface OrdersView {
  /** An order id (`123`, `#123`) or a user id. */
  q: string;
  status: OrderStatus | '';
  /** Dates, `YYYY-MM-DD`: placed on or after `from`, on or before `to`. */
  placedFrom: string;
  placedTo: string;
  /** Amounts as typed. */
  totalMin: string;
  totalMax: string;
  sort: 'created' | 'total';
  order: SortOrder;
  position: Position;
  /** The number of the page's first row (1-based), to say "51–100 of N". */
  start: number;
}

export const DEFAULT_VIEW: OrdersView = {
  q: '',
  status: '',
  placedFrom: '',
  placedTo: '',
  totalMin: '',
  totalMax: '',
  sort: 'created',
  order: 'desc',
  position: null,
  start: 1,
};

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The view of a location's query string; what it cannot read is left out. */
export function parseView(search: string): OrdersView {
  const p = new URLSearchParams(search);
  const text = (name: string) => p.get(name)?.trim() ?? '';
  const date = (name: string) => (DATE.test(text(name)) ? text(name) : '');
  const status = text('status');
  const after = text('after');
  const before = text('before');
  const position: Position = after
    ? { after }
    : before
      ? { before }
      : text('last') === 'true'
        ? { last: true }
        : null;
  const start = Number(text('start'));
  return {
    q: text('q'),
    status: (ORDER_STATUSES as readonly string[]).includes(status) ? (status as OrderStatus) : '',
    placedFrom: date('from'),
    placedTo: date('to'),
    totalMin: text('min'),
    totalMax: text('max'),
    sort: text('sort') === 'total' ? 'total' : 'created',
    order: text('order') === 'asc' ? 'asc' : 'desc',
    position,
    start: position !== null && Number.isInteger(start) && start > 0 ? start : 1,
  };
}

/** The query string of a view (`?…`, or '' for the default view). */
export function viewSearch(view: OrdersView): string {
  const p = new URLSearchParams();
  const put = (name: string, value: string, unless = '') => {
    if (value !== unless) p.set(name, value);
  };
  put('q', view.q.trim());
  put('status', view.status);
  put('from', view.placedFrom);
  put('to', view.placedTo);
  put('min', view.totalMin.trim());
  put('max', view.totalMax.trim());
  put('sort', view.sort, 'created');
  put('order', view.order, 'desc');
  if (view.position !== null) {
    if ('after' in view.position) p.set('after', view.position.after);
    else if ('before' in view.position) p.set('before', view.position.before);
    else p.set('last', 'true');
    p.set('start', String(view.start));
  }
  const qs = p.toString();
  return qs ? `?${qs}` : '';
}

/** The day after a `YYYY-MM-DD` date (the API's `created_to` is exclusive). */
export function nextDay(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** What the search box names: an order, or a user. */
export function searchTarget(q: string): { orderId: number } | { userId: string } | null {
  const text = q.trim();
  if (!text) return null;
  const id = /^#?(\d{1,15})$/.exec(text);
  if (id) return { orderId: Number(id[1]) };
  return { userId: text };
}

/** The API filters of a view (the search by order id is a lookup, not a filter). */
export function apiFilters(view: OrdersView): OrderFilters {
  const target = searchTarget(view.q);
  return {
    status: view.status || undefined,
    user_id: target && 'userId' in target ? target.userId : undefined,
    created_from: view.placedFrom || undefined,
    created_to: view.placedTo ? nextDay(view.placedTo) : undefined,
    total_min: view.totalMin.trim() || undefined,
    total_max: view.totalMax.trim() || undefined,
    sort: view.sort,
    order: view.order,
  };
}
