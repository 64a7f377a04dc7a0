import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { parseView, viewSearch } from '../ordersView';
import { mockFetch, order, type Call } from '../test/mocks';
import { OrdersConsole } from './OrdersConsole';

/** The console with its view kept in state, as the app keeps it in the URL. */
function Harness({ initial = '', opened }: { initial?: string; opened?: (id: number) => void }) {
  const [search, setSearch] = useState(initial);
  return (
    <>
      <output data-testid="search">{search}</output>
      <OrdersConsole search={search} onNavigate={setSearch} onOpen={(id) => opened?.(id)} />
    </>
  );
}

/** 120 orders, newest first: a server that pages them by cursor as the
 * order service does (the cursor here is simply an id). */
const ALL = Array.from({ length: 120 }, (_, i) => order({ id: 120 - i, user_id: `user-${i % 3}` }));

function serve(call: Call) {
  const q = call.query;
  const limit = Number(q.get('limit'));
  const selected = ALL.filter((o) => !q.get('user_id') || o.user_id === q.get('user_id'));
  let from = 0;
  if (q.get('after')) from = selected.findIndex((o) => o.id === Number(q.get('after'))) + 1;
  if (q.get('before')) {
    from = Math.max(0, selected.findIndex((o) => o.id === Number(q.get('before'))) - limit);
  }
  if (q.get('last') === 'true') from = Math.max(0, selected.length - limit);
  const rows = selected.slice(from, from + limit);
  const links: string[] = [];
  const base = new URLSearchParams(q);
  ['after', 'before', 'last', 'count'].forEach((name) => base.delete(name));
  const link = (rel: string, extra: string) => links.push(`<?${base}&${extra}>; rel="${rel}"`);
  if (from + limit < selected.length) {
    link('next', `after=${rows[rows.length - 1]!.id}`);
    link('last', 'last=true');
  }
  if (from > 0) {
    link('prev', `before=${rows[0]!.id}`);
    link('first', '');
  }
  return {
    body: rows,
    headers: { Link: links.join(', '), 'X-Total-Count': String(selected.length) },
  };
}

const range = () => screen.getByTestId('orders-range');
const ids = () =>
  within(screen.getByRole('table')).getAllByRole('link').map((a) => a.textContent);

describe('OrdersConsole', () => {
  it('pages through every order by the Link cursors and says where it is', async () => {
    const api = mockFetch({ 'GET /api/order/orders': serve });
    const user = userEvent.setup();
    render(<Harness />);
    expect(await screen.findByText('1–50 of 120')).toBeInTheDocument();
    expect(ids()[0]).toBe('#120');
    expect(api.calls[0]!.url).toBe('/api/order/orders?sort=created&order=desc&limit=50&count=true');
    expect(screen.getByRole('button', { name: 'Previous' })).toBeDisabled();

    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect(await screen.findByText('51–100 of 120')).toBeInTheDocument();
    expect(ids()[0]).toBe('#70');
    expect(screen.getByTestId('search')).toHaveTextContent('?after=71&start=51');

    await user.click(screen.getByRole('button', { name: 'Last' }));
    expect(await screen.findByText('71–120 of 120')).toBeInTheDocument();
    expect(ids().at(-1)).toBe('#1');
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Last' })).toBeDisabled();

    await user.click(screen.getByRole('button', { name: 'Previous' }));
    expect(await screen.findByText('21–70 of 120')).toBeInTheDocument();
    expect(ids()[0]).toBe('#100');

    await user.click(screen.getByRole('button', { name: 'First' }));
    expect(await screen.findByText('1–50 of 120')).toBeInTheDocument();
    expect(screen.getByTestId('search')).toBeEmptyDOMElement();
  });

  it('keeps filters and sort in the address and sends them to the API', async () => {
    const api = mockFetch({ 'GET /api/order/orders': serve });
    const user = userEvent.setup();
    render(<Harness initial="?status=paid&sort=total&order=asc" />);
    await screen.findByText('1–50 of 120');
    const first = api.calls[0]!.query;
    expect(first.get('status')).toBe('paid');
    expect(first.get('sort')).toBe('total');
    expect(first.get('order')).toBe('asc');
    expect(screen.getByLabelText('Status')).toHaveValue('paid');
    expect(screen.getByLabelText('Sort')).toHaveValue('total-asc');

    await user.type(screen.getByLabelText('Placed from'), '2026-11-01');
    await user.type(screen.getByLabelText('Placed to'), '2026-11-30');
    await user.type(screen.getByLabelText('Total from'), '10');
    await user.click(screen.getByRole('button', { name: 'Apply' }));
    await screen.findByText((_, el) => el?.getAttribute('data-testid') === 'search' && /min=10/.test(el.textContent ?? ''));
    const last = api.calls.at(-1)!.query;
    expect(last.get('created_from')).toBe('2026-11-01');
    // "Placed to" includes the whole day.
    expect(last.get('created_to')).toBe('2026-12-01');
    expect(last.get('total_min')).toBe('10');
    expect(last.get('status')).toBe('paid');

    await user.selectOptions(screen.getByLabelText('Status'), '');
    await user.click(screen.getByRole('button', { name: 'Clear' }));
    expect(screen.getByTestId('search')).toBeEmptyDOMElement();
  });

  it('searches by order id, or by customer', async () => {
    const api = mockFetch({
      'GET /api/order/orders': serve,
      'GET /api/order/orders/*': (call) => {
        const id = Number(call.path.split('/').pop());
        const found = ALL.find((o) => o.id === id);
        return found ? { body: found } : { status: 404, body: { detail: `Order ${id} not found` } };
      },
    });
    const opened: number[] = [];
    const user = userEvent.setup();
    render(<Harness opened={(id) => opened.push(id)} />);
    await screen.findByText('1–50 of 120');

    await user.type(screen.getByLabelText('Order id or customer'), '#42{Enter}');
    expect(await screen.findByText('1–1 of 1')).toBeInTheDocument();
    expect(ids()).toEqual(['#42']);
    expect(api.to('GET', '/api/order/orders/*').at(-1)!.url).toBe('/api/order/orders/42');
    await user.click(screen.getByRole('link', { name: '#42' }));
    expect(opened).toEqual([42]);

    await user.clear(screen.getByLabelText('Order id or customer'));
    await user.type(screen.getByLabelText('Order id or customer'), '9999{Enter}');
    expect(await screen.findByText('No order #9999.')).toBeInTheDocument();

    await user.clear(screen.getByLabelText('Order id or customer'));
    await user.type(screen.getByLabelText('Order id or customer'), 'user-1{Enter}');
    expect(await screen.findByText('1–40 of 40')).toBeInTheDocument();
    expect(api.calls.at(-1)!.query.get('user_id')).toBe('user-1');

    // A customer's name in the table filters by them.
    await user.clear(screen.getByLabelText('Order id or customer'));
    await user.click(screen.getByRole('button', { name: 'Apply' }));
    await screen.findByText('1–50 of 120');
    await user.click(within(screen.getByRole('table')).getAllByRole('button', { name: 'user-2' })[0]!);
    expect(await screen.findByText('1–40 of 40')).toBeInTheDocument();
    expect(screen.getByTestId('search')).toHaveTextContent('?q=user-2');
  });

  it('offers Retry when the orders cannot be loaded', async () => {
    mockFetch({
      'GET /api/order/orders': [{ status: 503, body: { detail: 'Order service unavailable' } }, serve],
    });
    const user = userEvent.setup();
    render(<Harness />);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Could not load the orders: Order service unavailable');
    await user.click(within(alert).getByRole('button', { name: 'Retry' }));
    expect(await screen.findByText('1–50 of 120')).toBeInTheDocument();
    expect(range()).toBeInTheDocument();
  });
});

describe('the orders view in the address', () => {
  it('reads what it wrote and drops what it cannot read', () => {
    const search = '?q=bob&status=paid&from=2026-11-01&sort=total&order=asc&after=abc&start=51';
    expect(viewSearch(parseView(search))).toBe(search);
    const junk = parseView('?status=lost&from=yesterday&start=-4&sort=x');
    expect(viewSearch(junk)).toBe('');
    expect(parseView('?last=true&start=9951').position).toEqual({ last: true });
  });
});
