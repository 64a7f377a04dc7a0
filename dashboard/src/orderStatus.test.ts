import { describe, expect, it } from 'vitest';
import { ORDER_STATUSES } from './api';
import { countsAsRevenue, isPayable, nextStatuses } from './orderStatus';

describe('order status machine', () => {
  it('offers the services’ transitions only', () => {
    expect(nextStatuses('pending')).toEqual(['confirmed', 'cancelled']);
    expect(nextStatuses('confirmed')).toEqual(['cancelled']);
    expect(nextStatuses('paid')).toEqual(['processing', 'cancelled']);
    expect(nextStatuses('processing')).toEqual(['shipped', 'cancelled']);
    expect(nextStatuses('shipped')).toEqual(['delivered']);
    expect(nextStatuses('delivered')).toEqual([]);
    expect(nextStatuses('cancelled')).toEqual([]);
  });

  it('never offers paid as a status change', () => {
    for (const s of ORDER_STATUSES) expect(nextStatuses(s)).not.toContain('paid');
  });

  it('pays pending and confirmed orders only', () => {
    expect(ORDER_STATUSES.filter(isPayable)).toEqual(['pending', 'confirmed']);
  });

  it('counts paid, processing, shipped and delivered as revenue', () => {
    expect(ORDER_STATUSES.filter(countsAsRevenue)).toEqual([
      'paid',
      'processing',
      'shipped',
      'delivered',
    ]);
  });
});
