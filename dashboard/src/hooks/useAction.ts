import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, errorMessage } from '../api';

export interface Action<A extends unknown[], R> {
  /** Runs the action; resolves to its result, or undefined when it failed. */
  run: (...args: A) => Promise<R | undefined>;
  pending: boolean;
  error: string | null;
  /** The failure as thrown, to look at its status or product. */
  failure: ApiError | null;
  clearError: () => void;
}

/** A user action: one at a time, with its loading state and its error. */
export function useAction<A extends unknown[], R>(
  action: (...args: A) => Promise<R>,
): Action<A, R> {
  const [pending, setPending] = useState(false);
  const [failure, setFailure] = useState<{ message: string; error: ApiError | null } | null>(null);
  const actionRef = useRef(action);
  actionRef.current = action;
  const running = useRef(false);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const run = useCallback(async (...args: A): Promise<R | undefined> => {
    if (running.current) return undefined;
    running.current = true;
    setPending(true);
    setFailure(null);
    try {
      return await actionRef.current(...args);
    } catch (err) {
      if (mounted.current) {
        setFailure({ message: errorMessage(err), error: err instanceof ApiError ? err : null });
      }
      return undefined;
    } finally {
      running.current = false;
      if (mounted.current) setPending(false);
    }
  }, []);

  const clearError = useCallback(() => setFailure(null), []);
  return {
    run,
    pending,
    error: failure?.message ?? null,
    failure: failure?.error ?? null,
    clearError,
  };
}
