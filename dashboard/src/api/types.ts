// Types of the services' JSON, as their OpenAPI documents describe them
// (GET /api/<service>/openapi.json). Money is a JSON number with at most two
// decimals; timestamps are RFC 3339 strings in UTC.

/** The body of every error answer. */
export interface ErrorBody {
  detail: string;
  /** Set on 409 stock conflicts: the product the conflict concerns. */
  product_id?: number | null;
}

/** A plain confirmation (`DELETE /products/{id}`, cart changes). */
export interface Message {
  message: string;
}

// ---- catalog ----

export interface Product {
  id: number;
  name: string;
  description: string | null;
  price: number;
  /** Units available to order. */
  stock: number;
  category: string | null;
  created_at: string;
}

/** The body of `POST /products`. */
export interface NewProduct {
  name: string;
  description?: string | null;
  price: number;
  stock?: number;
  category?: string | null;
}

/** The body of `PUT /products/{id}`: absent or null fields stay as they are. */
export interface ProductUpdate {
  name?: string | null;
  description?: string | null;
  price?: number | null;
  stock?: number | null;
  category?: string | null;
}

/** Query of `GET /products`. */
export interface ProductQuery {
  search?: string;
  category?: string;
  skip?: number;
  limit?: number;
  ids?: number[];
}

// ---- cart ----

export interface CartItem {
  id: number;
  user_id: string;
  product_id: number;
  quantity: number;
  /** `null` when the product no longer exists in the catalog. */
  product_name: string | null;
  /** `null` when the product no longer exists in the catalog. */
  product_price: number | null;
  created_at: string;
}

export interface Cart {
  user_id: string;
  items: CartItem[];
  /** Sum of price x quantity over the items whose product exists. */
  total: number;
}

// ---- order ----

export const ORDER_STATUSES = [
  'pending',
  'confirmed',
  'paid',
  'processing',
  'shipped',
  'delivered',
  'cancelled',
] as const;

export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrderItem {
  product_id: number;
  product_name: string;
  quantity: number;
  /** Unit price at order time. */
  price: number;
}

export interface Order {
  id: number;
  user_id: string;
  status: OrderStatus;
  total_amount: number;
  items: OrderItem[];
  /** The successful payment's id, once paid. */
  payment_id: string | null;
  created_at: string;
  updated_at: string;
  /** `expired`: cancelled by the shop because it was not paid in time. */
  reason?: string;
  /** While unpaid: when the order expires and its stock goes back. */
  expires_at?: string;
  /** A cancelled order that was paid: its refund is `pending` (being made)
   * or `refunded`. Absent for any other order. */
  refund_status?: RefundStatus;
  /** Once refunded: the refund (the payment's `refund.id`) and when. */
  refund_id?: string;
  refunded_at?: string;
}

export type RefundStatus = 'pending' | 'refunded';

/** Query of `GET /orders` and `GET /orders/user/{user}`. */
export interface Page {
  skip?: number;
  limit?: number;
}

export type EventType =
  | 'order_created'
  | 'order_status_updated'
  | 'order_paid'
  | 'order_payment_failed'
  | 'order_cancelled'
  | 'order_refunded';

export interface OrderEventData {
  order_id: number;
  user_id: string;
  total_amount: number;
  status: OrderStatus;
  /** `order_status_updated`, `order_cancelled`. */
  previous_status?: OrderStatus;
  /** `order_paid`, `order_payment_failed`, `order_refunded`. */
  payment_id?: string;
  /** `order_created`. */
  items?: OrderItem[];
  [key: string]: unknown;
}

/** An order event, from `GET /events` or `GET /events/stream`. */
export interface OrderEvent {
  event_id: string;
  event_type: EventType | string;
  timestamp: string;
  /** Increases with every event. */
  sequence: number;
  data: OrderEventData;
}

// ---- payment ----

export type PaymentStatus = 'pending' | 'success' | 'failed';

/** `card`: charged through Shop; `manual`: marked paid by staff. */
export type PaymentMethod = 'card' | 'manual';

export interface Payment {
  id: string;
  order_id: number;
  amount: number;
  status: PaymentStatus;
  method: PaymentMethod;
  created_at: string;
  /** The money given back when the order was cancelled (at most one). */
  refund?: Refund;
}

/** The full refund of a successful payment. */
export interface Refund {
  id: string;
  amount: number;
  created_at: string;
}

// ---- accounts ----

export type Role = 'customer' | 'staff';

/** An account of the identity service (never its password). */
export interface Account {
  /** The user id of the account's cart and orders. */
  id: string;
  email: string;
  name: string;
  role: Role;
  created_at: string;
}

/** The gateway's `GET /api/session`: whether the services check accounts
 * (`AUTH=on`), and who is signed in. */
export interface SessionInfo {
  auth: boolean;
  account: Account | null;
}
