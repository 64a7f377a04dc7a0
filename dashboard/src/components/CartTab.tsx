import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import {
  clearCart,
  createOrder,
  getCart,
  getProduct,
  newIdempotencyKey,
  removeFromCart,
  setCartQuantity,
  type Cart,
  type CartItem,
  type Order,
} from '../api';
import { plural } from '../format';
import { useReloadOnFeed } from '../hooks/orderFeed';
import { useAction } from '../hooks/useAction';
import { useResource } from '../hooks/useResource';
import { formatCents, formatMoney, lineCents } from '../money';
import { useSession } from '../session';
import { useConfirm } from '../feedback/confirm';
import { toast } from '../feedback/toast';
import { countProblem, isInsufficientStock, MAX_QUANTITY } from '../validate';
import { ActionButton, ErrorMessage, Loading, StatusBadge } from './common';

/** The cart's total in cents: price x quantity of the items still sold. */
export function cartTotalCents(cart: Cart): number {
  return cart.items.reduce(
    (sum, item) =>
      item.product_price == null ? sum : sum + lineCents(item.product_price, item.quantity),
    0,
  );
}

function CartLine({
  item,
  userId,
  conflict,
  onChanged,
}: {
  item: CartItem;
  userId: string;
  /** A checkout's stock conflict about this item. */
  conflict: string | null;
  onChanged: () => void;
}) {
  const [draft, setDraft] = useState(String(item.quantity));
  const inputId = useId();
  const errorId = useId();
  const name = item.product_name ?? `Product #${item.product_id}`;
  useEffect(() => setDraft(String(item.quantity)), [item.quantity]);

  const [problem, setProblem] = useState<string | undefined>();
  const update = useAction(async (quantity: number) => {
    try {
      return await setCartQuantity(userId, item.product_id, quantity);
    } catch (err) {
      if (isInsufficientStock(err)) {
        const now = await getProduct(item.product_id).catch(() => null);
        setProblem(
          now
            ? `Only ${now.stock} in stock: choose ${now.stock} or fewer.`
            : 'Not enough in stock for that many.',
        );
        return undefined;
      }
      throw err;
    }
  });
  const remove = useAction(async () => removeFromCart(userId, item.product_id));
  const [confirmation, ask] = useConfirm();

  const changed = draft.trim() !== String(item.quantity);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!changed) return;
    const found = countProblem('Quantity', draft, 1, MAX_QUANTITY);
    setProblem(found);
    if (found) return;
    const done = await update.run(Number(draft.trim()));
    if (done) onChanged();
  };

  const error = problem ?? update.error ?? remove.error ?? conflict;
  return (
    <li className={`cart-line${error ? ' has-error' : ''}`} aria-label={name}>
      <div className="cart-line-main">
        <span className="cart-line-name">{name}</span>
        {item.product_price == null ? (
          <span className="muted">No longer sold: not counted in the total</span>
        ) : (
          <span className="muted">{formatMoney(item.product_price)} each</span>
        )}
      </div>
      <form className="cart-line-quantity" onSubmit={submit} noValidate>
        <label htmlFor={inputId}>Quantity</label>
        <input
          id={inputId}
          type="number"
          min={1}
          step={1}
          inputMode="numeric"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          aria-describedby={error ? errorId : undefined}
          aria-invalid={error ? true : undefined}
        />
        <ActionButton
          type="submit"
          className="button button-small"
          pending={update.pending}
          pendingText="Updating…"
          disabled={!changed}
        >
          Update
        </ActionButton>
      </form>
      <span className="cart-line-subtotal" aria-label={`Subtotal of ${name}`}>
        {item.product_price == null ? '—' : formatCents(lineCents(item.product_price, item.quantity))}
      </span>
      <ActionButton
        className="button button-small button-danger"
        pending={remove.pending}
        pendingText="Removing…"
        ariaLabel={`Remove ${name}`}
        onClick={async () => {
          const sure = await ask({
            title: `Remove ${name}?`,
            body: `${plural(item.quantity, 'unit')} of ${name} leave your cart.`,
            confirm: 'Remove',
          });
          if (sure && (await remove.run())) {
            toast(`Removed ${name} from the cart.`);
            onChanged();
          }
        }}
      >
        Remove
      </ActionButton>
      {confirmation}
      <div className="cart-line-error">
        <ErrorMessage id={errorId}>{error}</ErrorMessage>
      </div>
    </li>
  );
}

function PlacedOrder({ order, onOpen }: { order: Order; onOpen: () => void }) {
  return (
    <section className="panel placed-order" aria-labelledby="placed-title">
      <div className="panel-head">
        <h2 id="placed-title">Order #{order.id} placed</h2>
        <StatusBadge status={order.status} />
      </div>
      <ul className="plain-list">
        {order.items.map((item) => (
          <li key={item.product_id}>
            {item.quantity} × {item.product_name} at {formatMoney(item.price)}
          </li>
        ))}
      </ul>
      <p>
        Total <strong>{formatMoney(order.total_amount)}</strong>. Pay it in the Orders tab.
      </p>
      <button type="button" className="button" onClick={onOpen}>
        View order #{order.id}
      </button>
    </section>
  );
}

export function CartTab({
  userId,
  onOpenOrder,
  onBrowse,
}: {
  userId: string;
  onOpenOrder: (orderId: number) => void;
  onBrowse?: () => void;
}) {
  const { auth } = useSession();
  const load = useCallback((signal: AbortSignal) => getCart(userId, signal), [userId]);
  const cart = useResource(['cart', userId], load);
  useReloadOnFeed(cart.reload);
  const [placed, setPlaced] = useState<Order | null>(null);
  const checkout = useAction(async () => createOrder(userId, newIdempotencyKey()));
  const clear = useAction(async () => clearCart(userId));
  const [confirmation, ask] = useConfirm();
  const { clearError: clearCheckoutError } = checkout;

  useEffect(() => {
    setPlaced(null);
    clearCheckoutError();
  }, [userId, clearCheckoutError]);

  // A checkout's stock conflict (409 naming a product), shown on that item.
  const failure = checkout.failure;
  const conflict =
    failure && failure.status === 409 && failure.productId !== null
      ? { productId: failure.productId, detail: failure.detail }
      : null;

  const refresh = () => {
    clearCheckoutError();
    cart.reload(true);
  };

  const doCheckout = async () => {
    setPlaced(null);
    const order = await checkout.run();
    if (order) {
      setPlaced(order);
      cart.reload(true);
    }
  };

  const items = cart.data?.items ?? [];
  const conflictItem =
    conflict === null ? undefined : items.find((i) => i.product_id === conflict.productId);
  const conflictShownOnItem = conflictItem !== undefined;
  // Lines whose product was deleted from the catalog: not for sale, not
  // counted, and in the way of a checkout.
  const gone = items.filter((i) => i.product_price === null);
  const units = items
    .filter((i) => i.product_price !== null)
    .reduce((n, i) => n + i.quantity, 0);
  const totalCents = cart.data ? cartTotalCents(cart.data) : 0;

  return (
    <div className="cart">
      {placed && <PlacedOrder order={placed} onOpen={() => onOpenOrder(placed.id)} />}
      {cart.loading && <Loading>Loading your cart…</Loading>}
      <ErrorMessage onRetry={() => cart.reload()}>
        {cart.error && `Could not load the cart: ${cart.error}`}
      </ErrorMessage>
      {cart.data && items.length === 0 && !cart.loading && (
        <div className="panel empty">
          <p>Your cart is empty.</p>
          {onBrowse && (
            <button type="button" className="button" onClick={onBrowse}>
              Browse products
            </button>
          )}
        </div>
      )}
      {items.length > 0 && (
        <section className="panel" aria-labelledby="cart-title">
          <div className="panel-head">
            <h2 id="cart-title">{auth ? 'Your cart' : `Cart of ${userId}`}</h2>
            <span className="muted">{plural(units, 'item')}</span>
          </div>
          <ul className="cart-lines" aria-label="Items in the cart">
            {items.map((item) => (
              <CartLine
                key={item.product_id}
                item={item}
                userId={userId}
                conflict={conflict?.productId === item.product_id ? conflict.detail : null}
                onChanged={refresh}
              />
            ))}
          </ul>
          <div className="cart-summary">
            <p className="cart-total">
              Total <strong data-testid="cart-total">{formatCents(totalCents)}</strong>
            </p>
            <ErrorMessage>
              {checkout.error && !conflictShownOnItem && `Checkout failed: ${checkout.error}`}
            </ErrorMessage>
            {conflictShownOnItem && conflictItem.product_price !== null && (
              <p className="message message-error">
                Checkout failed: not enough stock for an item (shown above). Lower its quantity
                and try again.
              </p>
            )}
            {gone.length > 0 && (
              <p className="message message-error" data-testid="gone">
                {gone.length === 1
                  ? `${gone[0]!.product_name ?? `Product #${gone[0]!.product_id}`} is no longer sold: remove it to check out.`
                  : `${gone.length} items are no longer sold: remove them to check out.`}
              </p>
            )}
            <ErrorMessage>{clear.error && `Could not clear the cart: ${clear.error}`}</ErrorMessage>
            <div className="actions">
              <ActionButton
                className="button button-secondary"
                pending={clear.pending}
                pendingText="Clearing…"
                disabled={checkout.pending}
                onClick={async () => {
                  const sure = await ask({
                    title: 'Clear the cart?',
                    body: `All ${plural(units + gone.length, 'item')} leave the cart.`,
                    confirm: 'Clear cart',
                    keep: 'Keep them',
                  });
                  if (sure && (await clear.run())) {
                    toast('The cart is empty now.');
                    refresh();
                  }
                }}
              >
                Clear cart
              </ActionButton>
              {confirmation}
              <ActionButton
                className="button button-primary"
                pending={checkout.pending}
                pendingText="Placing order…"
                disabled={clear.pending || totalCents === 0 || gone.length > 0}
                onClick={doCheckout}
              >
                Checkout
              </ActionButton>
            </div>
          </div>
        </section>
      )}
    </div>
  );
}
