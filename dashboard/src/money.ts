// Money arrives as a JSON number with at most two decimals. Arithmetic is
// done in integer cents, never on the floating-point amounts; amounts are
// shown through Intl.NumberFormat in the shop's currency (the gateway's
// DASHBOARD_CURRENCY, told with the session; USD until then), always with
// cents, in the browser's language.

let currency = 'USD';
let exact = formatter(currency);
let compact = formatter(currency, true);

function formatter(code: string, short = false): Intl.NumberFormat {
  return new Intl.NumberFormat(undefined, {
    style: 'currency',
    currency: code,
    ...(short
      ? { notation: 'compact', maximumFractionDigits: 1 }
      : { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
  });
}

/** Shows amounts in `code` (ISO 4217) from now on; an unknown code is
 * ignored. */
export function setCurrency(code: string): void {
  if (code === currency) return;
  try {
    exact = formatter(code);
    compact = formatter(code, true);
    currency = code;
  } catch {
    // not a currency Intl knows: keep the current one
  }
}

/** The currency amounts are shown in. */
export function currencyCode(): string {
  return currency;
}

/** An amount from the API in integer cents (19.99 -> 1999). */
export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

/** Integer cents as money: 202997 -> "$2,029.97". */
export function formatCents(cents: number): string {
  return exact.format(Math.round(cents) / 100);
}

/** An amount from the API, formatted with two decimals. */
export function formatMoney(amount: number): string {
  return formatCents(toCents(amount));
}

/** An amount in few characters, for a chart's axis: "$12K". */
export function formatCompactMoney(amount: number): string {
  return compact.format(amount);
}

/** Unit price x quantity, in cents. */
export function lineCents(price: number, quantity: number): number {
  return toCents(price) * quantity;
}
