// Money arrives as a JSON number with at most two decimals. Arithmetic is
// done in integer cents, never on the floating-point amounts.

/** An amount from the API in integer cents (19.99 -> 1999). */
export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

/** Integer cents as a dollar amount: 202997 -> "$2,029.97". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(Math.round(cents));
  const whole = Math.floor(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const fraction = (abs % 100).toString().padStart(2, '0');
  return `${sign}$${whole}.${fraction}`;
}

/** An amount from the API, formatted with two decimals. */
export function formatMoney(amount: number): string {
  return formatCents(toCents(amount));
}

/** Unit price x quantity, in cents. */
export function lineCents(price: number, quantity: number): number {
  return toCents(price) * quantity;
}
