import { act, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { MockEventSource, mockFetch, orderEvent, type Call } from '../test/mocks';
import { OrderFeedProvider, parseEvent, useOrderFeed, useReloadOnFeed } from './orderFeed';

function Probe() {
  const feed = useOrderFeed();
  return (
    <div>
      <span data-testid="mode">{feed.mode}</span>
      <span data-testid="version">{feed.version}</span>
      <span data-testid="events">{feed.events.map((e) => e.sequence).join(',')}</span>
    </div>
  );
}

function renderFeed(options = { pollMs: 5000, reconnectMs: 10_000 }) {
  return render(
    <OrderFeedProvider options={options}>
      <Probe />
    </OrderFeedProvider>,
  );
}

const text = (id: string) => screen.getByTestId(id).textContent;

/** The stream, once the feed opened it (after its backfill answered). */
async function opened(): Promise<MockEventSource> {
  let es: MockEventSource | undefined;
  await act(async () => {
    es = await vi.waitFor(() => MockEventSource.latest());
  });
  return es!;
}

/** The feed's polls (its backfill aside). */
const polls = (calls: Call[]) => calls.filter((c) => c.query.has('after')).map((c) => c.url);

describe('order feed', () => {
  it('fills itself with the latest events, then follows the stream from the last of them', async () => {
    const older = orderEvent();
    const newer = orderEvent({ event_type: 'order_paid', data: { status: 'paid' } });
    const api = mockFetch({ 'GET /api/order/events': { body: [older, newer] } });
    renderFeed();
    const es = await opened();
    expect(api.calls[0]!.url).toBe('/api/order/events?last=true&limit=30');
    expect(text('events')).toBe(`${newer.sequence},${older.sequence}`);
    // Pages have just loaded: the past does not reload them.
    expect(text('version')).toBe('0');
    expect(es.url).toBe(`/api/order/events/stream?after=${newer.sequence}`);
    act(() => es.open());
    act(() => es.emit(newer));
    const next = orderEvent({ event_type: 'order_cancelled' });
    act(() => es.emit(next));
    expect(text('events')).toBe(`${next.sequence},${newer.sequence},${older.sequence}`);
    expect(text('version')).toBe('1');
  });

  it('follows the stream from the first event when its backfill found none', async () => {
    // Orders placed between the empty backfill and the stream's start are
    // not skipped: the stream starts after sequence 0, not at the latest.
    mockFetch({ 'GET /api/order/events': { body: [] } });
    renderFeed();
    const es = await opened();
    expect(es.url).toBe('/api/order/events/stream?after=0');
    act(() => es.open());
    const first = orderEvent();
    act(() => es.emit(first));
    expect(text('events')).toBe(String(first.sequence));
  });

  it('follows the event stream on the same origin', async () => {
    mockFetch({});
    renderFeed();
    const es = await opened();
    expect(es.url).toBe('/api/order/events/stream');
    expect(text('mode')).toBe('connecting');
    act(() => es.open());
    expect(text('mode')).toBe('live');
    const first = orderEvent();
    const second = orderEvent({ event_type: 'order_paid', data: { status: 'paid' } });
    act(() => {
      es.emit(first);
      es.emit(second);
    });
    expect(text('events')).toBe(`${second.sequence},${first.sequence}`);
    expect(text('version')).toBe('2');
  });

  it('ignores repeated and malformed messages', async () => {
    mockFetch({});
    renderFeed();
    const es = await opened();
    act(() => es.open());
    const event = orderEvent();
    act(() => {
      es.emit(event);
      es.emit(event);
      es.emit('not json');
      es.emit(JSON.stringify({ hello: 'world' }));
    });
    expect(text('events')).toBe(String(event.sequence));
    expect(text('version')).toBe('1');
  });

  it('polls every 5 seconds while the stream errors, and stops when it is back', async () => {
    vi.useFakeTimers();
    const seen = orderEvent();
    const missed = orderEvent({ event_type: 'order_cancelled' });
    let polled = 0;
    const api = mockFetch({
      'GET /api/order/events': (call) =>
        call.query.has('last') ? { body: [] } : { body: polled++ === 0 ? [missed] : [] },
    });
    renderFeed();
    const es = await opened();
    act(() => {
      es.open();
      es.emit(seen);
    });
    act(() => es.fail());
    expect(text('mode')).toBe('polling');
    expect(polls(api.calls)).toHaveLength(0);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(5000);
    });
    expect(polls(api.calls)).toEqual([`/api/order/events?after=${seen.sequence}&limit=100`]);
    expect(text('events')).toBe(`${missed.sequence},${seen.sequence}`);
    // one for the event seen live, one for the poll, one for the missed event
    expect(text('version')).toBe('3');

    act(() => es.open());
    expect(text('mode')).toBe('live');
    const versionAfterReconnect = text('version');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(20_000);
    });
    expect(polls(api.calls)).toHaveLength(1);
    expect(text('version')).toBe(versionAfterReconnect);
  });

  it('opens a new stream after the browser gives up, resuming after the last event', async () => {
    vi.useFakeTimers();
    mockFetch({ 'GET /api/order/events': { body: [] } });
    renderFeed();
    const first = await opened();
    const event = orderEvent();
    act(() => {
      first.open();
      first.emit(event);
    });
    act(() => first.fail(true));
    expect(first.closed).toBe(true);
    expect(text('mode')).toBe('polling');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(10_000);
    });
    const second = MockEventSource.latest();
    expect(second).not.toBe(first);
    expect(second.url).toBe(`/api/order/events/stream?after=${event.sequence}`);
    act(() => second.open());
    expect(text('mode')).toBe('live');
  });

  it('polls when the browser has no EventSource', async () => {
    vi.useFakeTimers();
    vi.stubGlobal('EventSource', undefined);
    mockFetch({});
    renderFeed();
    // The backfill answers (404 here), then the feed polls.
    await act(async () => {
      await vi.advanceTimersByTimeAsync(50);
    });
    expect(text('mode')).toBe('polling');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(15_000);
    });
    expect(text('version')).toBe('3');
  });

  it('closes the stream when the page goes away', async () => {
    mockFetch({});
    const { unmount } = renderFeed();
    const es = await opened();
    unmount();
    expect(es.closed).toBe(true);
  });

  it('reloads a page’s data when the feed moves on, silently', async () => {
    mockFetch({});
    const reload = vi.fn();
    function Page() {
      useReloadOnFeed(reload);
      return null;
    }
    render(
      <OrderFeedProvider>
        <Page />
      </OrderFeedProvider>,
    );
    const es = await opened();
    expect(reload).not.toHaveBeenCalled();
    act(() => es.emit(orderEvent()));
    expect(reload).toHaveBeenCalledWith(true);
  });

  it('parses only order events', () => {
    const event = orderEvent();
    expect(parseEvent(JSON.stringify(event))).toEqual(event);
    expect(parseEvent('{')).toBeNull();
    expect(parseEvent('{"event_id":"x"}')).toBeNull();
  });
});
