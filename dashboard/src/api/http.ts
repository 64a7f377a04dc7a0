import type { ErrorBody } from './types';

/** Where the services are: the gateway of the origin that served the app. */
export const API_BASE = '/api';

/** A failed call: the service's status and `detail`, or status 0 when the
 * server could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: string;
  /** The product a 409 stock conflict concerns. */
  readonly productId: number | null;

  constructor(status: number, detail: string, productId: number | null = null) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.productId = productId;
  }
}

/** The message to show for any error thrown by an API call. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.detail;
  if (err instanceof Error && err.message) return err.message;
  return 'Something went wrong';
}

export type QueryValue = string | number | undefined | null;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** `/api/<service><path>?query`, skipping empty query values. */
export function apiUrl(path: string, query?: Record<string, QueryValue>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return `${API_BASE}${path}${qs ? `?${qs}` : ''}`;
}

/** One path segment, percent-encoded (user ids are taken literally). */
export function segment(value: string | number): string {
  return encodeURIComponent(String(value));
}

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { detail?: unknown }).detail === 'string'
  );
}

let onUnauthorized: (() => void) | null = null;

/** What to do when a call is refused with 401 (the session provider asks
 * again who is signed in: the session may have ended). */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

/** Calls the API and returns its JSON; throws an {@link ApiError}. */
export async function request<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  return (await exchange<T>(method, path, options)).body;
}

/** Calls the API and returns its JSON and the answer's headers. */
export async function exchange<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<{ body: T; headers: Headers }> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(apiUrl(path, options.query), {
      method,
      headers,
      body,
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the server. Check your connection and try again.');
  }
  const text = await response.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (!response.ok) {
    if (response.status === 401) onUnauthorized?.();
    if (isErrorBody(json)) {
      const productId = typeof json.product_id === 'number' ? json.product_id : null;
      throw new ApiError(response.status, json.detail, productId);
    }
    const reason = response.statusText ? ` ${response.statusText}` : '';
    throw new ApiError(response.status, `The server answered ${response.status}${reason}`);
  }
  if (json === undefined) {
    throw new ApiError(response.status, 'The server sent an answer that is not JSON');
  }
  return { body: json as T, headers: response.headers };
}

/** A fresh idempotency key: one per user action, never reused across clicks.
 * `crypto.randomUUID` exists only in secure contexts (https, localhost); a
 * page opened over plain http from another machine builds the same random
 * UUID v4 from `crypto.getRandomValues`. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
