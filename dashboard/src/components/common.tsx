import type { ReactNode } from 'react';
import type { OrderStatus } from '../api';

/** An error shown in the page, announced to screen readers. */
export function ErrorMessage({
  children,
  id,
  onDismiss,
}: {
  children: ReactNode;
  id?: string;
  onDismiss?: () => void;
}) {
  if (children === null || children === undefined || children === false || children === '') {
    return null;
  }
  return (
    <div className="message message-error" role="alert" id={id}>
      <span>{children}</span>
      {onDismiss && (
        <button type="button" className="link-button" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}

/** A success or information note, announced politely. */
export function Notice({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <p className="message message-ok" role="status">
      {children}
    </p>
  );
}

/** A loading line with a spinner. */
export function Loading({ children = 'Loading…' }: { children?: ReactNode }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      {children}
    </p>
  );
}

export function StatusBadge({ status }: { status: OrderStatus }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

/** A button that shows its loading text and is busy while `pending`. */
export function ActionButton({
  pending,
  pendingText,
  children,
  className = 'button',
  disabled,
  onClick,
  type = 'button',
  ariaLabel,
  describedBy,
}: {
  pending: boolean;
  pendingText: string;
  children: ReactNode;
  className?: string;
  disabled?: boolean;
  onClick?: () => void;
  type?: 'button' | 'submit';
  ariaLabel?: string;
  describedBy?: string;
}) {
  return (
    <button
      type={type}
      className={className}
      disabled={disabled || pending}
      aria-busy={pending || undefined}
      aria-label={pending ? undefined : ariaLabel}
      aria-describedby={describedBy}
      onClick={onClick}
    >
      {pending && <span className="spinner spinner-inline" aria-hidden="true" />}
      {pending ? pendingText : children}
    </button>
  );
}
