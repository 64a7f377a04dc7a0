// Toasts: short notes that an action worked ("Added 2 × Mouse to your
// cart"), shown at the edge of the screen for a few seconds, at most a few
// at once, instead of boxes that stay on the page and pile up. Errors stay
// where they happened, beside what failed.

import { useSyncExternalStore } from 'react';

export interface Toast {
  id: number;
  text: string;
  /** A button in the toast (e.g. "View cart"). */
  action?: { label: string; onClick: () => void };
}

/** How long a toast stays. */
export const TOAST_MS = 6000;
/** The most toasts shown at once; an older one gives way to a new one. */
export const MAX_TOASTS = 3;

let toasts: Toast[] = [];
let nextId = 1;
const listeners = new Set<() => void>();
const timers = new Map<number, ReturnType<typeof setTimeout>>();

function publish(next: Toast[]) {
  toasts = next;
  listeners.forEach((listener) => listener());
}

/** Takes a toast down. */
export function dismiss(id: number): void {
  clearTimeout(timers.get(id));
  timers.delete(id);
  publish(toasts.filter((t) => t.id !== id));
}

/** Shows a toast for {@link TOAST_MS}. */
export function toast(text: string, action?: Toast['action']): number {
  const id = nextId++;
  const kept = toasts.slice(-(MAX_TOASTS - 1));
  toasts.filter((t) => !kept.includes(t)).forEach((t) => dismiss(t.id));
  publish([...kept, { id, text, action }]);
  timers.set(
    id,
    setTimeout(() => dismiss(id), TOAST_MS),
  );
  return id;
}

/** Takes every toast down (between tests). */
export function clearToasts(): void {
  [...toasts].forEach((t) => dismiss(t.id));
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Where toasts appear: one polite live region, newest last. */
export function Toaster() {
  const shown = useSyncExternalStore(subscribe, () => toasts);
  return (
    <section className="toasts" aria-label="Notifications">
      <ol aria-live="polite" className="toast-list">
        {shown.map((t) => (
          <li key={t.id} className="toast" role="status">
            <span className="toast-text">{t.text}</span>
            {t.action && (
              <button
                type="button"
                className="link-button toast-action"
                onClick={() => {
                  dismiss(t.id);
                  t.action!.onClick();
                }}
              >
                {t.action.label}
              </button>
            )}
            <button
              type="button"
              className="toast-dismiss"
              aria-label="Dismiss"
              onClick={() => dismiss(t.id)}
            >
              ×
            </button>
          </li>
        ))}
      </ol>
    </section>
  );
}
