import { describe, expect, it } from 'vitest';
import {
  currencyCode,
  formatCents,
  formatCompactMoney,
  formatMoney,
  lineCents,
  setCurrency,
  toCents,
} from './money';

describe('money', () => {
  it('converts amounts to integer cents without float drift', () => {
    expect(toCents(19.99)).toBe(1999);
    expect(toCents(0.1) + toCents(0.2)).toBe(30);
    expect(toCents(1000000000)).toBe(100000000000);
    expect(toCents(4.35)).toBe(435);
  });

  it('multiplies in cents', () => {
    expect(lineCents(999.99, 2)).toBe(199998);
    expect(lineCents(0.07, 3)).toBe(21);
  });

  it('formats with two decimals and thousands separators', () => {
    expect(formatCents(202997)).toBe('$2,029.97');
    expect(formatCents(5)).toBe('$0.05');
    expect(formatCents(0)).toBe('$0.00');
    expect(formatCents(123456789012)).toBe('$1,234,567,890.12');
    expect(formatCents(-150)).toBe('-$1.50');
    expect(formatMoney(29.9)).toBe('$29.90');
    expect(formatCompactMoney(12_345)).toBe('$12.3K');
  });

  it('shows the shop’s currency, always with cents, and ignores a code that is none', () => {
    setCurrency('EUR');
    expect(formatCents(202997)).toBe('€2,029.97');
    setCurrency('JPY');
    expect(formatMoney(1250.5)).toBe('¥1,250.50');
    setCurrency('not a code');
    expect(currencyCode()).toBe('JPY');
    setCurrency('USD');
    expect(formatCents(5)).toBe('$0.05');
  });
});
