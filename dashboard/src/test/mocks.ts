import { vi } from 'vitest';
import type { Cart, Order, OrderEvent, Payment, Product } from '../api';

/** A recorded call to the mocked fetch. */
export interface Call {
  method: string;
  /** Path and query, e.g. `/api/catalog/products?search=lap`. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
}

export interface Answer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Reply = Answer | ((call: Call) => Answer);

/**
 * A fetch that answers by "METHOD /path" (the path without query; `*`
 * matches one segment) and records every call. Unknown routes answer 404.
 */
export function mockFetch(routes: Record<string, Reply | Reply[]>) {
  const calls: Call[] = [];
  const queues = new Map<string, Reply[]>();
  for (const [key, reply] of Object.entries(routes)) {
    queues.set(key, Array.isArray(reply) ? [...reply] : [reply]);
  }
  const match = (method: string, path: string) => {
    for (const key of queues.keys()) {
      const [m, pattern] = key.split(' ');
      if (m !== method || !pattern) continue;
      const re = new RegExp(`^${pattern.replace(/[.?+]/g, '\\$&').replace(/\*/g, '[^/]+')}$`);
      if (re.test(path)) return key;
    }
    return null;
  };
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const parsed = new URL(url, 'http://localhost');
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, key) => (headers[key] = value));
    const call: Call = {
      method: init?.method ?? 'GET',
      url,
      path: parsed.pathname,
      query: parsed.searchParams,
      headers,
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    const key = match(call.method, call.path);
    if (!key) return json(404, { detail: `no mock for ${call.method} ${call.path}` });
    const queue = queues.get(key)!;
    // The last reply of a route repeats.
    const reply = queue.length > 1 ? queue.shift()! : queue[0]!;
    const answer = typeof reply === 'function' ? reply(call) : reply;
    return json(answer.status ?? 200, answer.body, answer.headers);
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    calls,
    fetch: fetchMock,
    /** The calls to "METHOD /path" (pattern as in the routes). */
    to(method: string, pattern: string): Call[] {
      const re = new RegExp(`^${pattern.replace(/[.?+]/g, '\\$&').replace(/\*/g, '[^/]+')}$`);
      return calls.filter((c) => c.method === method && re.test(c.path));
    },
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? '' : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A stand-in for the browser's EventSource that tests drive by hand. */
export class MockEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static instances: MockEventSource[] = [];

  static reset() {
    MockEventSource.instances = [];
  }

  static latest(): MockEventSource {
    const last = MockEventSource.instances.at(-1);
    if (!last) throw new Error('no EventSource was opened');
    return last;
  }

  readonly url: string;
  readyState = MockEventSource.CONNECTING;
  onopen: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  closed = false;

  constructor(url: string | URL) {
    this.url = String(url);
    MockEventSource.instances.push(this);
  }

  open() {
    this.readyState = MockEventSource.OPEN;
    this.onopen?.(new Event('open'));
  }

  emit(event: OrderEvent | string) {
    const data = typeof event === 'string' ? event : JSON.stringify(event);
    this.onmessage?.(new MessageEvent('message', { data }));
  }

  /** An error; `closed` means the browser gives up (no reconnect). */
  fail(closed = false) {
    this.readyState = closed ? MockEventSource.CLOSED : MockEventSource.CONNECTING;
    this.onerror?.(new Event('error'));
  }

  close() {
    this.closed = true;
    this.readyState = MockEventSource.CLOSED;
  }

  addEventListener() {}
  removeEventListener() {}
}

// ---- sample data ----

export function product(over: Partial<Product> = {}): Product {
  return {
    id: 1,
    name: 'Laptop',
    description: 'High-performance laptop',
    price: 999.99,
    stock: 10,
    category: 'Electronics',
    created_at: '2025-01-01T10:00:00Z',
    ...over,
  };
}

export function order(over: Partial<Order> = {}): Order {
  return {
    id: 1,
    user_id: 'alice',
    status: 'pending',
    total_amount: 29.99,
    items: [{ product_id: 2, product_name: 'Mouse', quantity: 1, price: 29.99 }],
    payment_id: null,
    created_at: '2025-01-01T10:00:00Z',
    updated_at: '2025-01-01T10:00:00Z',
    ...over,
  };
}

export function cart(userId: string, items: Array<[number, string | null, number | null, number]>): Cart {
  const cartItems = items.map(([product_id, product_name, product_price, quantity], i) => ({
    id: i + 1,
    user_id: userId,
    product_id,
    quantity,
    product_name,
    product_price,
    created_at: '2025-01-01T10:00:00Z',
  }));
  const cents = cartItems.reduce(
    (sum, i) => sum + (i.product_price === null ? 0 : Math.round(i.product_price * 100) * i.quantity),
    0,
  );
  return { user_id: userId, items: cartItems, total: cents / 100 };
}

export function payment(over: Partial<Payment> = {}): Payment {
  return {
    id: 'pay-1',
    order_id: 1,
    amount: 29.99,
    status: 'success',
    method: 'card',
    created_at: '2025-01-01T10:01:00Z',
    ...over,
  };
}

let sequence = 0;
export function orderEvent(
  over: Partial<Omit<OrderEvent, 'data'>> & { data?: Partial<OrderEvent['data']> } = {},
): OrderEvent {
  sequence += 1;
  const { data, ...rest } = over;
  return {
    event_id: `event-${sequence}`,
    event_type: 'order_created',
    timestamp: '2025-01-01T10:00:00Z',
    sequence,
    ...rest,
    data: { order_id: 1, user_id: 'alice', total_amount: 29.99, status: 'pending', ...data },
  };
}
