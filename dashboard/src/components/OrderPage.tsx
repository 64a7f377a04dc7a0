import { queryClient } from '../queryClient';
import { inAppClick } from '../router';
import { OrderById } from './OrdersTab';

/** An order on a page of its own (staff): items, actions (pay, move,
 * cancel and refund), payments and events, with the way back to the
 * orders table as it was left. */
export function OrderPage({
  orderId,
  backHref,
  onBack,
}: {
  orderId: number;
  backHref: string;
  onBack: () => void;
}) {
  return (
    <div className="order-page">
      <p>
        <a
          href={backHref}
          onClick={inAppClick(onBack)}
        >
          ← All orders
        </a>
      </p>
      <OrderById
        orderId={orderId}
        onChanged={() => void queryClient.invalidateQueries({ queryKey: ['orders'] })}
      />
    </div>
  );
}
