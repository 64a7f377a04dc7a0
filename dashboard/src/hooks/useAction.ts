import { useCallback, useRef } from 'react';
import { useMutation } from '@tanstack/react-query';
import { ApiError, errorMessage } from '../api';
import { queryClient } from '../queryClient';

export interface Action<A extends unknown[], R> {
  /** Runs the action; resolves to its result, or undefined when it failed. */
  run: (...args: A) => Promise<R | undefined>;
  pending: boolean;
  error: string | null;
  /** The failure as thrown, to look at its status or product. */
  failure: ApiError | null;
  clearError: () => void;
}

/** A user action (a TanStack Query mutation): one at a time, with its
 * loading state and its error. */
export function useAction<A extends unknown[], R>(
  action: (...args: A) => Promise<R>,
): Action<A, R> {
  const actionRef = useRef(action);
  actionRef.current = action;
  const mutation = useMutation({ mutationFn: (args: A) => actionRef.current(...args) }, queryClient);
  const running = useRef(false);
  const { mutateAsync, reset } = mutation;

  const run = useCallback(
    async (...args: A): Promise<R | undefined> => {
      if (running.current) return undefined;
      running.current = true;
      try {
        return await mutateAsync(args);
      } catch {
        return undefined;
      } finally {
        running.current = false;
      }
    },
    [mutateAsync],
  );

  const error = mutation.error;
  return {
    run,
    pending: mutation.isPending,
    error: error ? errorMessage(error) : null,
    failure: error instanceof ApiError ? error : null,
    clearError: reset,
  };
}
