// What the forms check before they send anything, in the services' own
// limits, so every problem shows on its own field at once, in plain words.
// The services check again; an answer that names a field is shown on it too
// (problemOnField).

import { ApiError } from './api';

/** The longest product name, description and category the catalog takes. */
export const LIMITS = { name: 200, description: 2000, category: 100 } as const;
export const MAX_PRICE = 1_000_000_000;
export const MAX_STOCK = 1_000_000_000;
export const MAX_QUANTITY = 1_000_000;

/** A form's problems, by field; a field without one is absent. */
export type Problems<F extends string> = Partial<Record<F, string>>;

// Control characters other than tab and newline (the catalog refuses them).
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

function length(text: string): number {
  return [...text].length;
}

export function textProblem(
  label: string,
  text: string,
  max: number,
  { required = false, multiline = false } = {},
): string | undefined {
  const trimmed = text.trim();
  if (required && !trimmed) return `Enter a ${label.toLowerCase()}.`;
  if (length(text) > max) return `${label} can be at most ${max} characters (now ${length(text)}).`;
  if ((multiline ? CONTROL : /[\u0000-\u001f\u007f]/).test(text)) {
    return `${label} cannot hold control characters.`;
  }
  return undefined;
}

/** A price: a number of dollars, not negative, at most two decimals. */
export function priceProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (!trimmed) return 'Enter a price, such as 19.99.';
  if (!/^\d+(\.\d*)?$|^\.\d+$/.test(trimmed)) {
    return trimmed.startsWith('-')
      ? 'A price cannot be negative.'
      : 'Enter the price as a number, such as 19.99.';
  }
  if ((trimmed.split('.')[1] ?? '').length > 2) return 'A price has at most two decimals (cents).';
  if (Number(trimmed) > MAX_PRICE) return 'A price can be at most 1,000,000,000.';
  return undefined;
}

/** A whole number from `min` to `max`. */
export function countProblem(
  label: string,
  text: string,
  min: number,
  max: number,
): string | undefined {
  const trimmed = text.trim();
  if (!trimmed) return `Enter the ${label.toLowerCase()}.`;
  if (!/^-?\d+$/.test(trimmed)) return `${label} must be a whole number.`;
  const value = Number(trimmed);
  if (value < min) return min === 0 ? `${label} cannot be negative.` : `${label} must be at least ${min}.`;
  if (value > max) return `${label} can be at most ${max.toLocaleString('en-US')}.`;
  return undefined;
}

/** A service's refusal as the problem of one of `fields`, when its
 * `detail` names it ("price must have at most two decimals" is the price's
 * problem); null for any other error. */
export function problemOnField<F extends string>(
  err: unknown,
  fields: readonly F[],
): Problems<F> | null {
  if (!(err instanceof ApiError)) return null;
  const { detail } = err;
  const field = fields.find(
    (f) => detail === f || detail.startsWith(`${f} `) || detail.startsWith(`${f}:`),
  );
  return field ? ({ [field]: sentence(detail) } as Problems<F>) : null;
}

/** Whether `err` is the cart service's refusal for want of stock. */
export function isInsufficientStock(err: unknown): boolean {
  return err instanceof ApiError && err.status === 400 && /insufficient stock/i.test(err.detail);
}

/** Whether a form has no problem. */
export function isClean<F extends string>(problems: Problems<F>): boolean {
  return Object.values(problems).every((p) => !p);
}

/** "Only 3 in stock": what a refused "Insufficient stock" means for the
 * person, from the product's stock and what their cart already holds. */
export function stockAdvice(stock: number, inCart: number): string {
  if (stock <= 0) return 'It is out of stock.';
  const left = stock - inCart;
  const held = inCart > 0 ? `, and your cart already holds ${inCart}` : '';
  if (left <= 0) return `Only ${stock} in stock${held}: you cannot add more.`;
  return `Only ${stock} in stock${held}: you can add up to ${left} more.`;
}

/** A service's sentence about a field, starting with a capital. */
function sentence(detail: string): string {
  const text = detail.charAt(0).toUpperCase() + detail.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
