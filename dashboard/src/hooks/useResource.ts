import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage } from '../api';

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

interface State<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
}

/**
 * Data loaded from the API: loaded when `key` changes (what is shown is
 * cleared then), reloadable. Only the latest load's answer is kept, so a
 * slow answer never overwrites a newer one.
 */
export function useResource<T>(
  load: (signal: AbortSignal) => Promise<T>,
  key: string,
): Resource<T> {
  const [state, setState] = useState<State<T>>({ data: undefined, error: null, loading: true });
  const loadRef = useRef(load);
  loadRef.current = load;
  const latest = useRef(0);
  const controller = useRef<AbortController | null>(null);
  const mounted = useRef(true);

  const run = useCallback((silent: boolean) => {
    const id = ++latest.current;
    controller.current?.abort();
    const ctrl = new AbortController();
    controller.current = ctrl;
    if (!silent) setState((s) => ({ ...s, loading: true }));
    loadRef.current(ctrl.signal).then(
      (data) => {
        if (mounted.current && id === latest.current) setState({ data, error: null, loading: false });
      },
      (err: unknown) => {
        if (ctrl.signal.aborted || !mounted.current || id !== latest.current) return;
        setState((s) => ({ ...s, error: errorMessage(err), loading: false }));
      },
    );
  }, []);

  useEffect(() => {
    mounted.current = true;
    setState({ data: undefined, error: null, loading: true });
    run(false);
    return () => {
      controller.current?.abort();
    };
  }, [key, run]);

  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );

  const reload = useCallback((silent = false) => run(silent), [run]);
  const set = useCallback((data: T) => {
    latest.current++;
    controller.current?.abort();
    setState({ data, error: null, loading: false });
  }, []);

  return { ...state, reload, set };
}
