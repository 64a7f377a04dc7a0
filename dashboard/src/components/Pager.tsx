import type { ListPage, Order, Position } from '../api';
import { formatCount } from '../format';
import { PAGE_SIZE } from '../ordersView';

/** Where a page is: its position and the number of its first row. */
export interface At {
  position: Position;
  /** 1-based; the last page counts back from the total instead. */
  start: number;
}

export const FIRST_PAGE: At = { position: null, start: 1 };

/** The number of the first row of `page` shown at `at`. */
function firstRow(at: At, page: ListPage<Order>): number {
  if (at.position !== null && 'last' in at.position) {
    return Math.max(1, (page.total ?? page.rows.length) - page.rows.length + 1);
  }
  return at.start;
}

/** "51–100 of 10,000". */
export function rangeLabel(at: At, page: ListPage<Order>): string {
  const shown = page.rows.length;
  if (shown === 0) return 'No orders';
  const first = firstRow(at, page);
  const last = first + shown - 1;
  const of = page.total === null ? '' : ` of ${formatCount(page.total)}`;
  return `${formatCount(first)}–${formatCount(last)}${of}`;
}

/** First, previous, next and last, with where the page is. */
export function Pager({
  at,
  page,
  go,
}: {
  at: At;
  page: ListPage<Order>;
  go: (to: At) => void;
}) {
  const shown = page.rows.length;
  const first = firstRow(at, page);
  const total = page.total ?? 0;
  const lastStart = Math.max(1, total - ((total - 1) % PAGE_SIZE));
  return (
    <nav className="pager" aria-label="Pages of orders">
      <span className="pager-range" role="status" data-testid="orders-range">
        {rangeLabel(at, page)}
      </span>
      <span className="pager-buttons">
        <button type="button" className="button" disabled={!page.prev} onClick={() => go({ position: null, start: 1 })}>
          First
        </button>
        <button
          type="button"
          className="button"
          disabled={!page.prev}
          onClick={() => go({ position: page.prev, start: Math.max(1, first - PAGE_SIZE) })}
        >
          Previous
        </button>
        <button
          type="button"
          className="button"
          disabled={!page.next}
          onClick={() => go({ position: page.next, start: first + shown })}
        >
          Next
        </button>
        <button
          type="button"
          className="button"
          disabled={!page.next}
          onClick={() => go({ position: { last: true }, start: lastStart })}
        >
          Last
        </button>
      </span>
    </nav>
  );
}
