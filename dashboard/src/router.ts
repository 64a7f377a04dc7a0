import { useCallback, useEffect, useState, type MouseEvent } from 'react';

export type TabId = 'dashboard' | 'products' | 'cart' | 'orders';

/** A tab, one of the account pages (auth on), or the page of an address
 * that names nothing. */
export type PageId = TabId | 'signin' | 'register' | 'notfound';

export interface Tab {
  id: TabId;
  label: string;
  path: string;
}

export const TABS: readonly Tab[] = [
  { id: 'dashboard', label: 'Dashboard', path: '/' },
  { id: 'products', label: 'Products', path: '/products' },
  { id: 'cart', label: 'Cart', path: '/cart' },
  { id: 'orders', label: 'Orders', path: '/orders' },
];

/** The account pages: not tabs. */
export const ACCOUNT_PAGES: readonly { id: PageId; label: string; path: string }[] = [
  { id: 'signin', label: 'Sign in', path: '/signin' },
  { id: 'register', label: 'Create an account', path: '/register' },
];

/** The heading and title of a page. */
export function pageLabel(page: PageId): string {
  if (page === 'notfound') return 'Page not found';
  return [...TABS, ...ACCOUNT_PAGES].find((p) => p.id === page)?.label ?? 'Dashboard';
}

export interface Route {
  tab: PageId;
  /** `/orders/12`: the order shown. */
  orderId: number | null;
  /** The query string (`?status=paid`, or ''): the orders table's view. */
  search?: string;
}

/** The tab (and order) a path shows; a path that names nothing is
 * `notfound`. */
export function parseRoute(pathname: string, search = ''): Route {
  const parts = pathname.split('/').filter(Boolean);
  const [first, second] = parts;
  if (parts.length === 0) return { tab: 'dashboard', orderId: null };
  if (first === 'products' && parts.length === 1) return { tab: 'products', orderId: null };
  if (first === 'cart' && parts.length === 1) return { tab: 'cart', orderId: null };
  if (first === 'signin' && parts.length === 1) return { tab: 'signin', orderId: null };
  if (first === 'register' && parts.length === 1) return { tab: 'register', orderId: null };
  if (first === 'orders' && parts.length === 1) return { tab: 'orders', orderId: null, search };
  if (first === 'orders' && parts.length === 2 && /^\d{1,15}$/.test(second!)) {
    return { tab: 'orders', orderId: Number(second), search: '' };
  }
  return { tab: 'notfound', orderId: null };
}

export function routePath(route: Route): string {
  if (route.tab === 'orders' && route.orderId !== null) return `/orders/${route.orderId}`;
  // The unknown address stays as it was typed.
  if (route.tab === 'notfound') return window.location.pathname;
  const path = [...TABS, ...ACCOUNT_PAGES].find((t) => t.id === route.tab)?.path ?? '/';
  return `${path}${route.search ?? ''}`;
}

function currentRoute(): Route {
  return parseRoute(window.location.pathname, window.location.search);
}

/** The route of the address bar, kept in step with back and forward. */
export function useRoute(): [Route, (route: Route, replace?: boolean) => void] {
  const [route, setRoute] = useState<Route>(currentRoute);
  useEffect(() => {
    const onPop = () => setRoute(currentRoute());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((next: Route, replace = false) => {
    const path = routePath(next);
    if (path !== window.location.pathname + window.location.search) {
      if (replace) window.history.replaceState(null, '', path);
      else window.history.pushState(null, '', path);
    }
    setRoute(next);
  }, []);
  return [route, navigate];
}

/** The click handler of a link within the app: a plain click calls `go`
 * instead of loading the page; a click with a modifier (new tab, new
 * window) or another button is left to the browser. */
export function inAppClick(go: () => void): (e: MouseEvent) => void {
  return (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    go();
  };
}
