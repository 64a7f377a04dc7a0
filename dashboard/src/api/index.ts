// Typed calls to the services, through the gateway on the app's own origin:
// /api/catalog, /api/cart, /api/order, /api/payment.

import { apiUrl, exchange, request, segment } from './http';
import { pageOf, positionQuery, type ListPage, type Position } from './paging';
import type {
  Account,
  Cart,
  CartItem,
  Message,
  NewProduct,
  Order,
  OrderEvent,
  OrderFilters,
  OrderStatus,
  Page,
  Payment,
  Product,
  ProductQuery,
  ProductUpdate,
  SessionInfo,
  Stats,
  Bucket,
} from './types';

export * from './types';
export type { ListPage, Position } from './paging';
export { ApiError, errorMessage, newIdempotencyKey } from './http';

function idempotency(key?: string): Record<string, string> | undefined {
  return key ? { 'Idempotency-Key': key } : undefined;
}

// ---- catalog ----

/** A page of products at `position`, searched or in a category, with their
 * total unless searched (counting every match of a common text would cost
 * what reading them all does). */
export async function listProductPage(
  query: ProductQuery,
  position: Position,
  limit: number,
  signal?: AbortSignal,
): Promise<ListPage<Product>> {
  const search = query.search?.trim();
  const { body, headers } = await exchange<Product[]>('GET', '/catalog/products', {
    query: {
      search,
      category: query.category?.trim(),
      ...positionQuery(position),
      limit,
      count: search ? undefined : 'true',
    },
    signal,
  });
  return pageOf(body, headers);
}

/** The catalog's categories, sorted. */
export function listCategories(signal?: AbortSignal): Promise<string[]> {
  return request<string[]>('GET', '/catalog/categories', { signal });
}

/** How many products there are (`count=true`: one row and the total). */
export async function countProducts(signal?: AbortSignal): Promise<number | null> {
  return (await listProductPage({}, null, 1, signal)).total;
}

export function getProduct(id: number, signal?: AbortSignal): Promise<Product> {
  return request<Product>('GET', `/catalog/products/${segment(id)}`, { signal });
}

export function createProduct(product: NewProduct, idempotencyKey?: string): Promise<Product> {
  return request<Product>('POST', '/catalog/products', {
    body: product,
    headers: idempotency(idempotencyKey),
  });
}

export function updateProduct(id: number, change: ProductUpdate): Promise<Product> {
  return request<Product>('PUT', `/catalog/products/${segment(id)}`, { body: change });
}

/** Deletes a product (staff); carts that hold it show it as no longer sold. */
export function deleteProduct(id: number): Promise<Message> {
  return request<Message>('DELETE', `/catalog/products/${segment(id)}`);
}

// ---- cart ----

export function getCart(userId: string, signal?: AbortSignal): Promise<Cart> {
  return request<Cart>('GET', `/cart/cart/${segment(userId)}`, { signal });
}

export function addToCart(userId: string, productId: number, quantity: number): Promise<CartItem> {
  return request<CartItem>('POST', `/cart/cart/${segment(userId)}/items`, {
    body: { product_id: productId, quantity },
  });
}

export function setCartQuantity(
  userId: string,
  productId: number,
  quantity: number,
): Promise<Message> {
  return request<Message>('PUT', `/cart/cart/${segment(userId)}/items/${segment(productId)}`, {
    query: { quantity },
  });
}

export function removeFromCart(userId: string, productId: number): Promise<Message> {
  return request<Message>('DELETE', `/cart/cart/${segment(userId)}/items/${segment(productId)}`);
}

export function clearCart(userId: string): Promise<Message> {
  return request<Message>('DELETE', `/cart/cart/${segment(userId)}`);
}

// ---- order ----

/** Turns the user's cart into a pending order. */
export function createOrder(userId: string, idempotencyKey: string): Promise<Order> {
  return request<Order>('POST', '/order/orders', {
    body: { user_id: userId },
    headers: idempotency(idempotencyKey),
  });
}

/** All orders, newest first. */
export function listOrders(page: Page = {}, signal?: AbortSignal): Promise<Order[]> {
  return request<Order[]>('GET', '/order/orders', {
    query: { skip: page.skip, limit: page.limit },
    signal,
  });
}

/** A page of orders at `position` under `filters` (of one user's orders
 * when `userId` is given), with their total. */
export async function listOrderPage(
  filters: OrderFilters,
  position: Position,
  limit: number,
  signal?: AbortSignal,
  userId?: string,
): Promise<ListPage<Order>> {
  const path = userId === undefined ? '/order/orders' : `/order/orders/user/${segment(userId)}`;
  const { body, headers } = await exchange<Order[]>('GET', path, {
    query: { ...filters, ...positionQuery(position), limit, count: 'true' },
    signal,
  });
  return pageOf(body, headers);
}

/** The orders placed in `[from, to)` (default: the last 30 days) in
 * figures, with a series by day or hour (staff). */
export function getStats(
  range: { from?: string; to?: string; bucket?: Bucket },
  signal?: AbortSignal,
): Promise<Stats> {
  return request<Stats>('GET', '/order/stats', { query: { ...range }, signal });
}

/** A user's orders, newest first. */
export function listUserOrders(
  userId: string,
  page: Page = {},
  signal?: AbortSignal,
): Promise<Order[]> {
  return request<Order[]>('GET', `/order/orders/user/${segment(userId)}`, {
    query: { skip: page.skip, limit: page.limit },
    signal,
  });
}

export function getOrder(id: number, signal?: AbortSignal): Promise<Order> {
  return request<Order>('GET', `/order/orders/${segment(id)}`, { signal });
}

/** Pays an order; a declined payment is a 400 "Payment failed". */
export function payOrder(id: number, idempotencyKey: string): Promise<Order> {
  return request<Order>('POST', `/order/orders/${segment(id)}/payment`, {
    headers: idempotency(idempotencyKey),
  });
}

export function updateOrderStatus(id: number, status: OrderStatus): Promise<Order> {
  return request<Order>('PUT', `/order/orders/${segment(id)}/status`, { body: { status } });
}

/** Order events after `after` (a sequence), oldest first. */
export function listEvents(
  after: number,
  limit = 100,
  signal?: AbortSignal,
): Promise<OrderEvent[]> {
  return request<OrderEvent[]>('GET', '/order/events', { query: { after, limit }, signal });
}

/** The latest `limit` order events the caller may see, oldest first. */
export function latestEvents(limit: number, signal?: AbortSignal): Promise<OrderEvent[]> {
  return request<OrderEvent[]>('GET', '/order/events', { query: { last: 'true', limit }, signal });
}

/** One order's events still kept (the latest 1000), oldest first. */
export function listOrderEvents(orderId: number, signal?: AbortSignal): Promise<OrderEvent[]> {
  return request<OrderEvent[]>('GET', '/order/events', {
    query: { order_id: orderId, last: 'true', limit: 1000 },
    signal,
  });
}

/** The URL of the server-sent event stream of order events. */
export function eventStreamUrl(after?: number): string {
  return apiUrl('/order/events/stream', { after });
}

// ---- payment ----

/** An order's payment attempts, newest first. */
export function listPayments(orderId: number, signal?: AbortSignal): Promise<Payment[]> {
  return request<Payment[]>('GET', '/payment/payments', { query: { order_id: orderId }, signal });
}

// ---- accounts: the gateway's session cookie (the page never sees a token) ----

/** Whether auth is on, and who is signed in. */
export function getSession(signal?: AbortSignal): Promise<SessionInfo> {
  return request<SessionInfo>('GET', '/session', { signal });
}

/** Signs in: the gateway sets its HttpOnly session cookie. */
export function signIn(email: string, password: string): Promise<SessionInfo> {
  return request<SessionInfo>('POST', '/session', { body: { email, password } });
}

/** Signs out: the gateway ends the session and clears the cookie. */
export function signOut(): Promise<SessionInfo> {
  return request<SessionInfo>('DELETE', '/session');
}

/** Makes a customer account (sign in afterwards). */
export function register(email: string, password: string, name: string): Promise<Account> {
  return request<Account>('POST', '/identity/auth/register', { body: { email, password, name } });
}
