// A page of a list endpoint: the rows (the JSON array), the cursors of the
// neighbouring pages from the `Link` header (RFC 8288: query-only
// references such as `<?limit=50&after=…>; rel="next"`), and the total from
// `X-Total-Count` when it was asked for (`count=true`).

/** Where a page starts: after or before a cursor, the last page, or the
 * first (none). */
export type Position = { after: string } | { before: string } | { last: true } | null;

export interface ListPage<T> {
  rows: T[];
  /** The position of the next page (further down the list), if any. */
  next: Position;
  /** The position of the previous page, if any. */
  prev: Position;
  /** How many rows the filters select in all, when counted. */
  total: number | null;
}

/** The relations of a `Link` header and the query of each reference. */
export function parseLinks(header: string | null): Map<string, URLSearchParams> {
  const links = new Map<string, URLSearchParams>();
  if (!header) return links;
  for (const match of header.matchAll(/<([^>]*)>\s*;\s*rel="?([^",;]+)"?/g)) {
    const [, reference = '', rel = ''] = match;
    const query = reference.includes('?') ? reference.slice(reference.indexOf('?') + 1) : '';
    links.set(rel, new URLSearchParams(query));
  }
  return links;
}

function positionOf(query: URLSearchParams | undefined): Position {
  if (!query) return null;
  const after = query.get('after');
  if (after) return { after };
  const before = query.get('before');
  if (before) return { before };
  if (query.get('last') === 'true') return { last: true };
  return null;
}

/** The page of `rows` answered with `headers`. */
export function pageOf<T>(rows: T[], headers: Headers): ListPage<T> {
  const links = parseLinks(headers.get('Link'));
  const total = headers.get('X-Total-Count');
  return {
    rows,
    next: positionOf(links.get('next')),
    prev: positionOf(links.get('prev')),
    total: total !== null && /^\d+$/.test(total) ? Number(total) : null,
  };
}

/** The query parameters of a position. */
export function positionQuery(position: Position): Record<string, string | undefined> {
  if (position === null) return {};
  if ('after' in position) return { after: position.after };
  if ('before' in position) return { before: position.before };
  return { last: 'true' };
}
