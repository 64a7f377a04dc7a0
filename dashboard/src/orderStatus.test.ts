import { describe, expect, it } from 'vitest';
import { ORDER_STATUSES } from './api';
import { actionLabel, isPayable, nextStatuses } from './orderStatus';

describe('order status machine', () => {
  it('offers the services’ transitions only', () => {
    expect(nextStatuses('pending')).toEqual(['confirmed', 'paid', 'cancelled']);
    expect(nextStatuses('confirmed')).toEqual(['paid', 'cancelled']);
    expect(nextStatuses('paid')).toEqual(['processing', 'cancelled']);
    expect(nextStatuses('processing')).toEqual(['shipped', 'cancelled']);
    expect(nextStatuses('shipped')).toEqual(['delivered']);
    expect(nextStatuses('delivered')).toEqual([]);
    expect(nextStatuses('cancelled')).toEqual([]);
  });

  it('offers mark as paid on payable orders only', () => {
    for (const s of ORDER_STATUSES) expect(nextStatuses(s).includes('paid')).toBe(isPayable(s));
    expect(actionLabel('paid')).toBe('Mark as paid');
    expect(actionLabel('cancelled', 'confirmed')).toBe('Cancel order');
    expect(actionLabel('cancelled', 'paid')).toBe('Cancel and refund');
    expect(actionLabel('cancelled', 'processing')).toBe('Cancel and refund');
  });

  it('pays pending and confirmed orders only', () => {
    expect(ORDER_STATUSES.filter(isPayable)).toEqual(['pending', 'confirmed']);
  });
});
