import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { eventStreamUrl, latestEvents, listEvents, type OrderEvent } from '../api';

/** How changes reach the page: the event stream, or polling while the
 * stream is unavailable. */
export type FeedMode = 'connecting' | 'live' | 'polling' | 'off';

export interface OrderFeed {
  mode: FeedMode;
  /** The latest events, newest first. */
  events: OrderEvent[];
  /** Grows with every event and every poll: pages reload their data when it
   * changes. */
  version: number;
}

export interface FeedOptions {
  /** The seed's refresh interval while the stream is unavailable. */
  pollMs?: number;
  /** Wait before opening a new stream after the browser gave up on one. */
  reconnectMs?: number;
  /** Events kept for the feed. */
  keep?: number;
}

export const POLL_MS = 5000;

const EMPTY: OrderFeed = { mode: 'connecting', events: [], version: 0 };
/** No feed: signed out with auth on (the stream is for signed-in users). */
const OFF: OrderFeed = { mode: 'off', events: [], version: 0 };

/** Reads an SSE message's data as an order event, or null. */
export function parseEvent(raw: string): OrderEvent | null {
  try {
    const value = JSON.parse(raw) as Partial<OrderEvent>;
    if (
      typeof value === 'object' &&
      value !== null &&
      typeof value.event_id === 'string' &&
      typeof value.event_type === 'string' &&
      typeof value.sequence === 'number' &&
      typeof value.data === 'object' &&
      value.data !== null
    ) {
      return value as OrderEvent;
    }
  } catch {
    // not JSON: ignored
  }
  return null;
}

/**
 * Fills itself with the latest events (`GET /events?last=true`), then
 * follows `/api/order/events/stream` from the last of them (server-sent
 * events, one JSON event per message): each new event is added to the list,
 * nothing is read again. While the stream errors or cannot be opened, the
 * page polls every 5 seconds instead, as the seed did, and catches up on
 * the events it missed through `GET /events?after=`.
 */
export function useOrderEvents(options: FeedOptions = {}, enabled = true): OrderFeed {
  const { pollMs = POLL_MS, reconnectMs = 10_000, keep = 30 } = options;
  const [feed, setFeed] = useState<OrderFeed>(enabled ? EMPTY : OFF);
  const settings = useRef({ pollMs, reconnectMs, keep });

  useEffect(() => {
    if (!enabled) {
      setFeed(OFF);
      return;
    }
    setFeed((f) => (f.mode === 'off' ? EMPTY : f));
    const { pollMs, reconnectMs, keep } = settings.current;
    let stopped = false;
    let source: EventSource | null = null;
    let pollTimer: ReturnType<typeof setInterval> | null = null;
    let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
    let lastSequence: number | null = null;
    let everOpened = false;
    let polling = false;
    const seen = new Set<string>();

    const accept = (event: OrderEvent) => {
      if (seen.has(event.event_id)) return;
      if (lastSequence !== null && event.sequence <= lastSequence) return;
      seen.add(event.event_id);
      lastSequence = event.sequence;
      setFeed((f) => ({
        ...f,
        events: [event, ...f.events].slice(0, keep),
        version: f.version + 1,
      }));
    };

    const poll = async () => {
      setFeed((f) => ({ ...f, version: f.version + 1 }));
      if (lastSequence === null || polling) return;
      polling = true;
      try {
        const missed = await listEvents(lastSequence, 100);
        if (!stopped) missed.forEach(accept);
      } catch {
        // still unreachable: the next poll tries again
      } finally {
        polling = false;
      }
    };

    const startPolling = () => {
      if (pollTimer === null) pollTimer = setInterval(() => void poll(), pollMs);
      setFeed((f) => (f.mode === 'polling' ? f : { ...f, mode: 'polling' }));
    };

    const stopPolling = () => {
      if (pollTimer !== null) clearInterval(pollTimer);
      pollTimer = null;
    };

    const connect = () => {
      reconnectTimer = null;
      if (stopped) return;
      if (typeof EventSource === 'undefined') {
        startPolling();
        return;
      }
      const es = new EventSource(eventStreamUrl(lastSequence ?? undefined));
      source = es;
      es.onopen = () => {
        stopPolling();
        // After an outage, pages reload what changed meanwhile. (Read
        // before the update: React may run the updater later.)
        const reopened = everOpened;
        everOpened = true;
        setFeed((f) => ({ ...f, mode: 'live', version: reopened ? f.version + 1 : f.version }));
      };
      es.onmessage = (message: MessageEvent<string>) => {
        const event = parseEvent(message.data);
        if (event) accept(event);
      };
      es.onerror = () => {
        if (stopped) return;
        startPolling();
        if (es.readyState === EventSource.CLOSED) {
          // The browser gave up (e.g. the server answered an error): try a
          // new stream later, resuming after the last event seen.
          es.close();
          if (source === es) source = null;
          if (reconnectTimer === null) reconnectTimer = setTimeout(connect, reconnectMs);
        }
      };
    };

    // The recent past first, without moving `version` (pages have just
    // loaded); the stream then resumes after it, missing nothing between.
    const backfill = async () => {
      try {
        const recent = await latestEvents(keep);
        if (stopped) return;
        for (const event of recent) seen.add(event.event_id);
        // None yet: the stream starts from the first event, so nothing
        // placed before it opens is missed.
        lastSequence = recent.at(-1)?.sequence ?? 0;
        setFeed((f) => ({ ...f, events: [...recent].reverse().slice(0, keep) }));
      } catch {
        // none to show: the stream starts from now
      }
      connect();
    };

    void backfill();
    return () => {
      stopped = true;
      source?.close();
      stopPolling();
      if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    };
  }, [enabled]);

  return feed;
}

const FeedContext = createContext<OrderFeed>(EMPTY);

export function OrderFeedProvider({
  children,
  options,
  enabled = true,
}: {
  children: ReactNode;
  options?: FeedOptions;
  /** False while nobody may follow the feed (signed out, auth on). */
  enabled?: boolean;
}) {
  const feed = useOrderEvents(options, enabled);
  return <FeedContext.Provider value={feed}>{children}</FeedContext.Provider>;
}

/** The order feed of the page (from {@link OrderFeedProvider}). */
export function useOrderFeed(): OrderFeed {
  return useContext(FeedContext);
}

/** How often, at most, a page whose reload costs a query of its own on a
 * big table (the figures, the orders table, the product grid) reloads while
 * events stream in. */
export const BUSY_RELOAD_MS = 2000;

/** Calls `reload(true)` whenever the feed moves on (not on the first
 * render), at most once per `atMostEveryMs`: a burst of events costs one
 * reload at its start and one at its end. */
export function useReloadOnFeed(
  reload: (silent?: boolean) => void,
  atMostEveryMs = 0,
): void {
  const { version } = useOrderFeed();
  const first = useRef(version);
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(reload);
  latest.current = reload;
  useEffect(() => {
    if (version === first.current || timer.current !== null) return;
    const run = () => {
      timer.current = null;
      last.current = Date.now();
      latest.current(true);
    };
    const wait = last.current + atMostEveryMs - Date.now();
    if (wait <= 0) run();
    else timer.current = setTimeout(run, wait);
  }, [version, atMostEveryMs]);
  useEffect(
    () => () => {
      if (timer.current !== null) clearTimeout(timer.current);
    },
    [],
  );
}
