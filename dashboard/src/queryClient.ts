import { QueryClient } from '@tanstack/react-query';
import { ApiError } from './api';

/** Whether a failed load may succeed if tried again: the network, or a
 * service that is down or busy (5xx), never a refusal (4xx). */
export function isTransient(error: unknown): boolean {
  return !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
}

/**
 * The dashboard's one cache of server state (TanStack Query). A load that
 * failed for a transient reason is tried twice more; the live feed, not
 * window focus, says when data changed.
 */
export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (failures, error) => failures < 2 && isTransient(error),
      retryDelay: (attempt) => Math.min(500 * 2 ** attempt, 4000),
      refetchOnWindowFocus: false,
    },
    mutations: { retry: false },
  },
});
