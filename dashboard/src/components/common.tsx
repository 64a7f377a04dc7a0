import type { ReactNode } from 'react';
import type { OrderStatus } from '../api';

/** An error shown in the page, announced to screen readers. */
export function ErrorMessage({
  children,
  id,
  onDismiss,
  onRetry,
}: {
  children: ReactNode;
  id?: string;
  onDismiss?: () => void;
  /** Offers a Retry button (for a load that failed). */
  onRetry?: () => void;
}) {
  if (children === null || children === undefined || children === false || children === '') {
    return null;
  }
  return (
    <div className="message message-error" role="alert" id={id}>
      <span>{children}</span>
      {onRetry && (
        <button type="button" className="link-button" onClick={onRetry}>
          Retry
        </button>
      )}
      {onDismiss && (
        <button type="button" className="link-button" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}

/** The accessibility attributes of a form control with `problem`. */
export interface FieldControl {
  id: string;
  'aria-invalid'?: true;
  'aria-describedby'?: string;
}

/** A labelled form field that shows its own problem, in words, under it
 * (or, without one, its `hint`). */
export function FormField({
  id,
  label,
  problem,
  hint,
  className = 'field',
  children,
}: {
  id: string;
  label: string;
  problem?: string;
  hint?: string;
  className?: string;
  children: (control: FieldControl) => ReactNode;
}) {
  const noteId = `${id}-note`;
  const note = problem ?? hint;
  return (
    <div className={className}>
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        'aria-invalid': problem ? true : undefined,
        'aria-describedby': note ? noteId : undefined,
      })}
      {note && (
        <p id={noteId} className={problem ? 'field-problem' : 'field-hint muted'}>
          {note}
        </p>
      )}
    </div>
  );
}

/** Focuses the first control of `form` marked invalid. */
export function focusFirstProblem(form: HTMLFormElement | null): void {
  requestAnimationFrame(() => form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
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
