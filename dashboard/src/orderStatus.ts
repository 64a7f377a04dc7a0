import type { OrderStatus } from './api/types';

/** The moves `PUT /orders/{id}/status` allows. `paid` there is "mark as
 * paid": the order service records a manual payment for the total (money
 * taken outside Shop); a card payment is `POST /orders/{id}/payment`. */
const NEXT: Record<OrderStatus, OrderStatus[]> = {
  pending: ['confirmed', 'paid', 'cancelled'],
  confirmed: ['paid', 'cancelled'],
  paid: ['processing', 'cancelled'],
  processing: ['shipped', 'cancelled'],
  shipped: ['delivered'],
  delivered: [],
  cancelled: [],
};

export function nextStatuses(status: OrderStatus): OrderStatus[] {
  return NEXT[status] ?? [];
}

/** Whether a payment may be taken for an order in this status. */
export function isPayable(status: OrderStatus): boolean {
  return status === 'pending' || status === 'confirmed';
}

/** Whether cancelling an order in this status refunds its payment. */
export function cancelRefunds(status: OrderStatus): boolean {
  return status === 'paid' || status === 'processing';
}

/** The button text that moves an order from `from` to `status`. */
export function actionLabel(status: OrderStatus, from?: OrderStatus): string {
  switch (status) {
    case 'confirmed':
      return 'Confirm';
    case 'paid':
      return 'Mark as paid';
    case 'processing':
      return 'Start processing';
    case 'shipped':
      return 'Mark shipped';
    case 'delivered':
      return 'Mark delivered';
    case 'cancelled':
      return from && cancelRefunds(from) ? 'Cancel and refund' : 'Cancel order';
    default:
      return `Mark ${status}`;
  }
}
