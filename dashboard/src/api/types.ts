// Types of the services' JSON: aliases of the types generated from their
// OpenAPI documents (src/api/schema/, by scripts/api-types.mjs), so a
// change of a service's API shows up here as a type error. Money is a JSON
// number with at most two decimals; timestamps are RFC 3339 strings in UTC.
// Only what the documents cannot say is written by hand: the order events'
// `data`, and the queries the dashboard builds.

import type { components as catalog } from './schema/catalog';
import type { components as cart } from './schema/cart';
import type { components as order } from './schema/order';
import type { components as payment } from './schema/payment';
import type { components as identity } from './schema/identity';
import type { components as gateway } from './schema/gateway';

/** The body of every error answer. */
export type ErrorBody = catalog['schemas']['ErrorBody'];

/** A plain confirmation (`DELETE /products/{id}`, cart changes). */
export type Message = catalog['schemas']['Message'];

// ---- catalog ----

export type Product = catalog['schemas']['Product'];
/** The body of `POST /products`. */
export type NewProduct = catalog['schemas']['NewProduct'];
/** The body of `PUT /products/{id}`: absent or null fields stay as they are. */
export type ProductUpdate = catalog['schemas']['ProductUpdate'];

/** The filters of `GET /products` the dashboard uses. */
export interface ProductQuery {
  search?: string;
  category?: string;
}

// ---- cart ----

export type CartItem = cart['schemas']['CartItem'];
export type Cart = cart['schemas']['Cart'];

// ---- order ----

export type OrderStatus = order['schemas']['OrderStatus'];

/** Every status, in the order an order goes through them. */
export const ORDER_STATUSES: readonly OrderStatus[] = [
  'pending',
  'confirmed',
  'paid',
  'processing',
  'shipped',
  'delivered',
  'cancelled',
];

export type OrderItem = order['schemas']['OrderItem'];
export type Order = order['schemas']['Order'];
export type RefundStatus = order['schemas']['RefundStatus'];

/** Query of `GET /orders` and `GET /orders/user/{user}`. */
export interface Page {
  skip?: number;
  limit?: number;
}

export type OrderSort = order['schemas']['OrderSort'];
export type SortOrder = order['schemas']['SortOrder'];

/** The filters and sort of `GET /orders` (paged by cursor). */
export interface OrderFilters {
  status?: OrderStatus;
  user_id?: string;
  /** A date (`2026-11-01`) or RFC 3339 time. */
  created_from?: string;
  created_to?: string;
  /** Amounts as typed: `10`, `10.5`. */
  total_min?: string;
  total_max?: string;
  sort?: OrderSort;
  order?: SortOrder;
}

/** `GET /stats`: the orders placed in a range, and a series over it. */
export type Stats = order['schemas']['Stats'];
export type StatsPoint = order['schemas']['StatsPoint'];
export type Bucket = order['schemas']['Bucket'];

export type EventType = order['schemas']['EventType'];

/** An event's `data` (the document says only "an object"). */
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
export interface OrderEvent extends Omit<order['schemas']['OrderEvent'], 'data' | 'event_type'> {
  /** A type this dashboard does not know yet stays a string. */
  event_type: EventType | string;
  data: OrderEventData;
}

// ---- payment ----

export type PaymentStatus = payment['schemas']['PaymentStatus'];
/** `card`: charged through Shop; `manual`: marked paid by staff. */
export type PaymentMethod = payment['schemas']['PaymentMethod'];
export type Payment = payment['schemas']['Payment'];
/** The full refund of a successful payment. */
export type Refund = payment['schemas']['Refund'];

// ---- accounts ----

export type Role = identity['schemas']['Role'];
/** An account of the identity service (never its password). */
export type Account = identity['schemas']['Account'];
/** The gateway's `GET /api/session`: whether the services check accounts
 * (`AUTH=on`), and who is signed in. */
export type SessionInfo = gateway['schemas']['SessionInfo'];
