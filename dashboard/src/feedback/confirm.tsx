// Confirmation before what cannot be undone (cancel an order, remove from
// the cart, clear it, delete a product): a modal <dialog>, which the
// browser keeps the keyboard in and closes with Escape. The safe choice has
// the focus first.

import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';

export interface ConfirmRequest {
  title: string;
  body: ReactNode;
  /** The button that goes ahead, e.g. "Cancel and refund". */
  confirm: string;
  /** The button that keeps things as they are (default "Keep it"). */
  keep?: string;
}

interface Pending extends ConfirmRequest {
  resolve: (ok: boolean) => void;
}

function ConfirmDialog({ request, onClose }: { request: Pending; onClose: (ok: boolean) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const answered = useRef(false);
  useEffect(() => {
    const el = dialog.current;
    if (el && !el.open) el.showModal();
  }, []);
  const answer = (ok: boolean) => {
    if (answered.current) return;
    answered.current = true;
    dialog.current?.close();
    onClose(ok);
  };
  return (
    <dialog
      ref={dialog}
      className="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-body"
      // Escape closes the dialog: that is a "keep".
      onClose={() => answer(false)}
    >
      <h2 id="confirm-title">{request.title}</h2>
      <div id="confirm-body">{request.body}</div>
      <div className="confirm-actions">
        <button type="button" className="button" autoFocus onClick={() => answer(false)}>
          {request.keep ?? 'Keep it'}
        </button>
        <button type="button" className="button button-danger" onClick={() => answer(true)}>
          {request.confirm}
        </button>
      </div>
    </dialog>
  );
}

/**
 * A confirmation to render and a function that asks it: `await ask({...})`
 * is true when the person went ahead, false when they kept things as they
 * are (or pressed Escape).
 */
export function useConfirm(): [ReactNode, (request: ConfirmRequest) => Promise<boolean>] {
  const [pending, setPending] = useState<Pending | null>(null);
  const ask = useCallback(
    (request: ConfirmRequest) =>
      new Promise<boolean>((resolve) => setPending({ ...request, resolve })),
    [],
  );
  const element = pending && (
    <ConfirmDialog
      request={pending}
      onClose={(ok) => {
        setPending(null);
        pending.resolve(ok);
      }}
    />
  );
  return [element, ask];
}
