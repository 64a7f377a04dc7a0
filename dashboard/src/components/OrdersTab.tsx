import { useCallback, useEffect, useRef, useState } from 'react';
import {
  getOrder,
  listOrderPage,
  listPayments,
  newIdempotencyKey,
  payOrder,
  updateOrderStatus,
  type Order,
  type OrderStatus,
} from '../api';
import { formatDateTime, plural } from '../format';
import { useOrderFeed, useReloadOnFeed } from '../hooks/orderFeed';
import { useAction } from '../hooks/useAction';
import { useResource } from '../hooks/useResource';
import { formatCents, formatMoney, lineCents, toCents } from '../money';
import { actionLabel, cancelRefunds, isPayable, nextStatuses } from '../orderStatus';
import { useConfirm } from '../feedback/confirm';
import { toast } from '../feedback/toast';
import { useSession } from '../session';
import { ActionButton, ErrorMessage, Loading, StatusBadge } from './common';
import { OrderEvents } from './OrderEvents';
import { FIRST_PAGE, Pager, type At } from './Pager';
import { PAGE_SIZE } from '../ordersView';

function Payments({ orderId, version }: { orderId: number; version: string }) {
  const load = useCallback((signal: AbortSignal) => listPayments(orderId, signal), [orderId]);
  const payments = useResource(['payments', orderId], load);
  const first = useRef(version);
  useEffect(() => {
    if (version !== first.current) payments.reload(true);
  }, [version, payments.reload]);

  return (
    <section className="order-payments" aria-labelledby={`payments-${orderId}`}>
      <h3 id={`payments-${orderId}`}>Payments</h3>
      {payments.loading && <Loading>Loading payments…</Loading>}
      <ErrorMessage onRetry={() => payments.reload()}>
        {payments.error && `Could not load the payments: ${payments.error}`}
      </ErrorMessage>
      {payments.data &&
        (payments.data.length === 0 ? (
          <p className="muted">No payment yet.</p>
        ) : (
          <ul className="plain-list payments">
            {payments.data.map((p) => (
              <li key={p.id}>
                <span className={`payment-status payment-${p.status}`}>{p.status}</span>{' '}
                {formatMoney(p.amount)} · {p.method === 'manual' ? 'marked paid' : 'card'} ·{' '}
                {formatDateTime(p.created_at)}
                {p.refund && ` · refunded ${formatMoney(p.refund.amount)} on ${formatDateTime(p.refund.created_at)}`}
                <span className="cell-note payment-id">Payment {p.id}</span>
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}

export function OrderDetails({
  order,
  onChanged,
}: {
  order: Order;
  onChanged: (order: Order) => void;
}) {
  const feed = useOrderFeed();
  const { staff } = useSession();
  const [attempts, setAttempts] = useState(0);
  const [moving, setMoving] = useState<OrderStatus | null>(null);
  const pay = useAction(async () => payOrder(order.id, newIdempotencyKey()));
  const move = useAction(async (status: OrderStatus) => updateOrderStatus(order.id, status));
  const { clearError: clearPayError } = pay;
  const { clearError: clearMoveError } = move;
  const heading = useRef<HTMLHeadingElement>(null);
  const [confirmation, ask] = useConfirm();

  useEffect(() => {
    clearPayError();
    clearMoveError();
  }, [order.id, clearPayError, clearMoveError]);

  const doPay = async () => {
    clearMoveError();
    const paid = await pay.run();
    setAttempts((n) => n + 1);
    if (paid) {
      toast(`Order #${paid.id} is paid: ${formatMoney(paid.total_amount)}.`);
      onChanged(paid);
    }
  };

  const doMove = async (status: OrderStatus) => {
    clearPayError();
    const refunds = cancelRefunds(order.status);
    if (status === 'cancelled') {
      const total = formatMoney(order.total_amount);
      const sure = await ask({
        title: `Cancel order #${order.id}?`,
        body: refunds
          ? `Its payment of ${total} is refunded in full, and its items go back on sale. This cannot be undone.`
          : 'Its items go back on sale. This cannot be undone.',
        confirm: refunds ? 'Cancel and refund' : 'Cancel order',
        keep: 'Keep the order',
      });
      if (!sure) return;
    }
    setMoving(status);
    const changed = await move.run(status);
    setMoving(null);
    if (!changed) return;
    if (status === 'cancelled') {
      toast(
        refunds
          ? `Order #${changed.id} is cancelled; ${formatMoney(changed.total_amount)} is refunded.`
          : `Order #${changed.id} is cancelled.`,
      );
    }
    onChanged(changed);
  };

  const payable = isPayable(order.status);
  // A customer may only cancel their own unpaid order; staff move any.
  const moves = nextStatuses(order.status).filter(
    (s) => staff || (s === 'cancelled' && isPayable(order.status)),
  );
  const busy = pay.pending || move.pending;
  const paymentFailed = pay.failure?.status === 400 && /payment failed/i.test(pay.failure.detail);
  const itemsCents = order.items.reduce((sum, i) => sum + lineCents(i.price, i.quantity), 0);

  return (
    <article className="panel order-details" aria-labelledby={`order-${order.id}-title`}>
      <div className="panel-head">
        <h2 id={`order-${order.id}-title`} ref={heading} tabIndex={-1}>
          Order #{order.id}
        </h2>
        <StatusBadge status={order.status} />
      </div>
      <p className="muted">
        {order.user_id} · placed {formatDateTime(order.created_at)} · updated{' '}
        {formatDateTime(order.updated_at)}
      </p>
      <table className="table order-items">
        <caption className="visually-hidden">Items of order #{order.id}</caption>
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col" className="num">
              Qty
            </th>
            <th scope="col" className="num">
              Price
            </th>
            <th scope="col" className="num">
              Subtotal
            </th>
          </tr>
        </thead>
        <tbody>
          {order.items.map((item) => (
            <tr key={item.product_id}>
              <td>{item.product_name}</td>
              <td className="num">{item.quantity}</td>
              <td className="num">{formatMoney(item.price)}</td>
              <td className="num">{formatCents(lineCents(item.price, item.quantity))}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={3}>
              Total
            </th>
            <td className="num">
              <strong data-testid="order-total">{formatMoney(order.total_amount)}</strong>
            </td>
          </tr>
        </tfoot>
      </table>
      {itemsCents !== toCents(order.total_amount) && (
        <p className="message message-error">
          The items add up to {formatCents(itemsCents)}, not the order total.
        </p>
      )}
      {order.payment_id && <p className="muted payment-id">Paid with payment {order.payment_id}.</p>}
      {payable && order.expires_at && (
        <p className="message message-info" data-testid="expires">
          Unpaid orders expire: pay by {formatDateTime(order.expires_at)}, or the order is cancelled
          and its items go back on sale.
        </p>
      )}
      {order.refund_status === 'refunded' && (
        <p className="muted" data-testid="refund">
          Refunded {formatMoney(order.total_amount)}
          {order.refunded_at && ` on ${formatDateTime(order.refunded_at)}`}.
        </p>
      )}
      {order.refund_status === 'pending' && (
        <p className="message message-info" data-testid="refund">
          Refund of {formatMoney(order.total_amount)} on its way: the payment service has not confirmed
          it yet. Shop finishes it on its own.
        </p>
      )}
      {order.status === 'cancelled' && order.reason === 'expired' && (
        <p className="muted" data-testid="expired">
          Cancelled because it was not paid in time; its items went back on sale.
        </p>
      )}

      {(payable || moves.length > 0) && (
        <div className="order-actions" role="group" aria-label={`Actions on order #${order.id}`}>
          {payable && (
            <ActionButton
              className="button button-primary"
              pending={pay.pending}
              pendingText="Paying…"
              disabled={busy}
              onClick={doPay}
            >
              {paymentFailed ? 'Retry payment' : `Pay ${formatMoney(order.total_amount)}`}
            </ActionButton>
          )}
          {moves.map((status) => (
            <ActionButton
              key={status}
              className={
                status === 'cancelled'
                  ? 'button button-danger'
                  : payable
                    ? 'button button-secondary'
                    : 'button'
              }
              pending={move.pending && moving === status}
              pendingText={status === 'cancelled' ? 'Cancelling…' : 'Updating…'}
              disabled={busy}
              onClick={() => void doMove(status)}
            >
              {actionLabel(status, order.status)}
            </ActionButton>
          ))}
        </div>
      )}
      <ErrorMessage>
        {pay.error &&
          (paymentFailed
            ? 'Payment failed: the payment was declined. The order is still unpaid; you can retry.'
            : `Payment not taken: ${pay.error}`)}
      </ErrorMessage>
      <ErrorMessage>{move.error && `Status not changed: ${move.error}`}</ErrorMessage>
      {confirmation}
      <Payments orderId={order.id} version={`${order.updated_at}|${attempts}|${feed.version}`} />
      <OrderEvents orderId={order.id} />
    </article>
  );
}

/** An order loaded by its id: one not in the list shown, or the staff
 * console's order page. */
export function OrderById({ orderId, onChanged }: { orderId: number; onChanged: () => void }) {
  const load = useCallback((signal: AbortSignal) => getOrder(orderId, signal), [orderId]);
  const order = useResource(['order', orderId], load);
  useReloadOnFeed(order.reload);
  if (order.loading) return <Loading>Loading order #{orderId}…</Loading>;
  if (order.error) {
    return (
      <ErrorMessage onRetry={() => order.reload()}>
        {`Could not load order #${orderId}: ${order.error}`}
      </ErrorMessage>
    );
  }
  if (!order.data) return null;
  return (
    <OrderDetails
      order={order.data}
      onChanged={(o) => {
        order.set(o);
        onChanged();
      }}
    />
  );
}

/** A customer's orders (or, with auth off, the chosen user's), a page at a
 * time, beside the selected order. Staff see every order in the
 * {@link OrdersConsole} instead. */
export function OrdersTab({
  userId,
  selectedId,
  onSelect,
}: {
  userId: string;
  selectedId: number | null;
  onSelect: (orderId: number | null) => void;
}) {
  const [at, setAt] = useState<At>(FIRST_PAGE);
  useEffect(() => setAt(FIRST_PAGE), [userId]);
  const load = useCallback(
    (signal: AbortSignal) => listOrderPage({}, at.position, PAGE_SIZE, signal, userId),
    [userId, at],
  );
  const orders = useResource(['orders', userId, at], load);
  const { auth } = useSession();
  useReloadOnFeed(orders.reload);
  const detailsRef = useRef<HTMLDivElement>(null);

  const list = orders.data?.rows ?? [];
  const selected = selectedId === null ? undefined : list.find((o) => o.id === selectedId);

  const replace = (changed: Order) => {
    if (orders.data) {
      orders.set({
        ...orders.data,
        rows: orders.data.rows.map((o) => (o.id === changed.id ? changed : o)),
      });
    }
    orders.reload(true);
  };

  const select = (id: number) => {
    onSelect(id);
    // On a phone the details are below the list: bring them into view.
    requestAnimationFrame(() => {
      const heading = detailsRef.current?.querySelector<HTMLElement>('h2');
      heading?.focus({ preventScroll: true });
      detailsRef.current?.scrollIntoView?.({ block: 'start', behavior: 'smooth' });
    });
  };

  return (
    <div className="orders">
      <section className="panel order-list" aria-labelledby="orders-title">
        <div className="panel-head">
          <h2 id="orders-title">{auth ? 'Your orders' : `Orders of ${userId}`}</h2>
          {orders.data && (
            <span className="muted">{plural(orders.data.total ?? list.length, 'order')}</span>
          )}
        </div>
        {orders.loading && <Loading>Loading orders…</Loading>}
        <ErrorMessage onRetry={() => orders.reload()}>
          {orders.error && `Could not load the orders: ${orders.error}`}
        </ErrorMessage>
        {orders.data && list.length === 0 && (
          <p className="muted">No orders yet. Add products to the cart and check out.</p>
        )}
        {list.length > 0 && (
          <ul className="order-rows">
            {list.map((order) => (
              <li key={order.id}>
                <button
                  type="button"
                  className="order-row"
                  aria-current={order.id === selectedId ? 'true' : undefined}
                  onClick={() => select(order.id)}
                >
                  <span className="order-row-id">Order #{order.id}</span>
                  <StatusBadge status={order.status} />
                  <span className="order-row-total">{formatMoney(order.total_amount)}</span>
                  <span className="order-row-meta">
                    {formatDateTime(order.created_at)} ·{' '}
                    {plural(
                      order.items.reduce((n, i) => n + i.quantity, 0),
                      'item',
                    )}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {orders.data && (orders.data.next || orders.data.prev) && (
          <Pager at={at} page={orders.data} go={setAt} />
        )}
      </section>
      <div className="order-detail-pane" ref={detailsRef}>
        {selected ? (
          <OrderDetails order={selected} onChanged={replace} />
        ) : selectedId !== null && orders.data ? (
          <OrderById orderId={selectedId} onChanged={() => orders.reload(true)} />
        ) : (
          orders.data &&
          list.length > 0 && (
            <p className="panel muted select-hint">Select an order to see its items, payments and actions.</p>
          )
        )}
      </div>
    </div>
  );
}
