import { useCallback } from 'react';
import { listOrderEvents, type OrderEvent } from '../api';
import { formatDateTime, humanize } from '../format';
import { useReloadOnFeed } from '../hooks/orderFeed';
import { useResource } from '../hooks/useResource';
import { formatMoney } from '../money';
import { ErrorMessage, Loading } from './common';

/** What an event changed, in words. */
export function eventChange(event: OrderEvent): string {
  const d = event.data;
  if (event.event_type === 'order_created') return `placed for ${formatMoney(d.total_amount)}`;
  if (event.event_type === 'order_refunded') return `${formatMoney(d.total_amount)} refunded`;
  if (d.previous_status && d.previous_status !== d.status) {
    return `${d.previous_status} → ${d.status}`;
  }
  return d.status;
}

/** An order's history from its events, oldest first. */
export function OrderEvents({ orderId }: { orderId: number }) {
  const load = useCallback((signal: AbortSignal) => listOrderEvents(orderId, signal), [orderId]);
  const events = useResource(['events', 'order', orderId], load);
  useReloadOnFeed(events.reload);
  return (
    <section className="order-events" aria-labelledby={`events-${orderId}`}>
      <h3 id={`events-${orderId}`}>Events</h3>
      {events.loading && <Loading>Loading events…</Loading>}
      <ErrorMessage onRetry={() => events.reload()}>
        {events.error && `Could not load the events: ${events.error}`}
      </ErrorMessage>
      {events.data &&
        (events.data.length === 0 ? (
          <p className="muted">
            No events kept for this order: events are kept for a week after they are published.
          </p>
        ) : (
          <ol className="plain-list timeline">
            {events.data.map((event) => (
              <li key={event.event_id}>
                <time dateTime={event.timestamp} className="muted">
                  {formatDateTime(event.timestamp)}
                </time>{' '}
                <span className={`feed-type feed-type-${event.event_type}`}>
                  {humanize(event.event_type)}
                </span>{' '}
                {eventChange(event)}
                {event.data.payment_id && (
                  <span className="cell-note payment-id">Payment {event.data.payment_id}</span>
                )}
              </li>
            ))}
          </ol>
        ))}
    </section>
  );
}
