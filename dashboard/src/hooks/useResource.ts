import { useCallback, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { errorMessage } from '../api';
import { queryClient } from '../queryClient';

export interface Resource<T> {
  data: T | undefined;
  /** The last load's error, shown in the page. */
  error: string | null;
  /** True while a visible (not silent) load runs. */
  loading: boolean;
  /** Loads again; a silent reload keeps what is shown until the answer comes. */
  reload: (silent?: boolean) => void;
  /** Replaces the data locally (after an action answered with it). */
  set: (data: T) => void;
}

/**
 * Data loaded from the API, cached by TanStack Query under `queryKey`:
 * loaded when the key changes (nothing of another key is shown meanwhile),
 * reloadable, retried when the failure is transient. Only the latest load's
 * answer is kept, so a slow answer never overwrites a newer one.
 */
export function useResource<T>(
  queryKey: readonly unknown[],
  load: (signal: AbortSignal) => Promise<T>,
): Resource<T> {
  const query = useQuery(
    { queryKey, queryFn: ({ signal }) => load(signal) },
    queryClient,
  );
  const [loud, setLoud] = useState(false);
  const { refetch } = query;
  const reload = useCallback(
    (silent = false) => {
      if (!silent) setLoud(true);
      void refetch({ cancelRefetch: true }).finally(() => setLoud(false));
    },
    [refetch],
  );
  const key = JSON.stringify(queryKey);
  const set = useCallback(
    (data: T) => {
      void queryClient.cancelQueries({ queryKey: JSON.parse(key) as unknown[] });
      queryClient.setQueryData(JSON.parse(key) as unknown[], data);
    },
    [key],
  );
  return {
    data: query.data,
    error: query.isError ? errorMessage(query.error) : null,
    loading: query.isPending || (loud && query.isFetching),
    reload,
    set,
  };
}
