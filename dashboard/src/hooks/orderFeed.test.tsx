import { act, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { MockEventSource, mockFetch, orderEvent } from '../test/mocks';
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

describe('order feed', () => {
  it('follows the event stream on the same origin', () => {
    mockFetch({});
    renderFeed();
    const es = MockEventSource.latest();
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

  it('ignores repeated and malformed messages', () => {
    mockFetch({});
    renderFeed();
    const es = MockEventSource.latest();
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
    const api = mockFetch({ 'GET /api/order/events': [{ body: [missed] }, { body: [] }] });
    renderFeed();
    const es = MockEventSource.latest();
    act(() => {
      es.open();
      es.emit(seen);
    });
    act(() => es.fail());
    expect(text('mode')).toBe('polling');
    expect(api.calls).toHaveLength(0);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(5000);
    });
    expect(api.calls.map((c) => c.url)).toEqual([`/api/order/events?after=${seen.sequence}&limit=100`]);
    expect(text('events')).toBe(`${missed.sequence},${seen.sequence}`);
    // one for the event seen live, one for the poll, one for the missed event
    expect(text('version')).toBe('3');

    act(() => es.open());
    expect(text('mode')).toBe('live');
    const versionAfterReconnect = text('version');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(20_000);
    });
    expect(api.calls).toHaveLength(1);
    expect(text('version')).toBe(versionAfterReconnect);
  });

  it('opens a new stream after the browser gives up, resuming after the last event', async () => {
    vi.useFakeTimers();
    mockFetch({ 'GET /api/order/events': { body: [] } });
    renderFeed();
    const first = MockEventSource.latest();
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
    expect(text('mode')).toBe('polling');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(15_000);
    });
    expect(text('version')).toBe('3');
  });

  it('closes the stream when the page goes away', () => {
    mockFetch({});
    const { unmount } = renderFeed();
    const es = MockEventSource.latest();
    unmount();
    expect(es.closed).toBe(true);
  });

  it('reloads a page’s data when the feed moves on, silently', () => {
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
    expect(reload).not.toHaveBeenCalled();
    act(() => MockEventSource.latest().emit(orderEvent()));
    expect(reload).toHaveBeenCalledWith(true);
  });

  it('parses only order events', () => {
    const event = orderEvent();
    expect(parseEvent(JSON.stringify(event))).toEqual(event);
    expect(parseEvent('{')).toBeNull();
    expect(parseEvent('{"event_id":"x"}')).toBeNull();
  });
});
