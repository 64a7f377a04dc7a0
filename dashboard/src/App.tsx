import { useCallback, useEffect, useRef, useState } from 'react';
import { CartTab } from './components/CartTab';
import { DashboardTab } from './components/DashboardTab';
import { OrdersTab } from './components/OrdersTab';
import { ProductsTab } from './components/ProductsTab';
import { UserSwitcher } from './components/UserSwitcher';
import { OrderFeedProvider, POLL_MS, useOrderFeed, type FeedOptions } from './hooks/orderFeed';
import { TABS, useRoute, type TabId } from './router';
import { loadUserId, saveUserId } from './user';

function FeedIndicator() {
  const { mode } = useOrderFeed();
  const text =
    mode === 'live'
      ? 'Live updates'
      : mode === 'polling'
        ? `Refreshing every ${POLL_MS / 1000} s`
        : 'Connecting…';
  return (
    <span className={`feed-indicator feed-${mode}`} role="status">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function Shell() {
  const [route, navigate] = useRoute();
  const [userId, setUserId] = useState(loadUserId);
  const heading = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);

  const changeUser = useCallback((next: string) => {
    saveUserId(next);
    setUserId(next);
  }, []);

  const go = useCallback(
    (tab: TabId, orderId: number | null = null) => navigate({ tab, orderId }),
    [navigate],
  );

  const label = TABS.find((t) => t.id === route.tab)?.label ?? 'Dashboard';
  useEffect(() => {
    document.title = `${label} · Shop`;
    // Moving between tabs puts the keyboard focus on the new tab's heading.
    if (firstRender.current) firstRender.current = false;
    else heading.current?.focus();
  }, [label]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <a
            className="brand"
            href="/"
            onClick={(e) => {
              e.preventDefault();
              go('dashboard');
            }}
          >
            <span className="brand-mark" aria-hidden="true">
              S
            </span>
            Shop
          </a>
          <FeedIndicator />
          <UserSwitcher userId={userId} onChange={changeUser} />
        </div>
        <nav className="tabs" aria-label="Sections">
          <ul>
            {TABS.map((tab) => (
              <li key={tab.id}>
                <a
                  href={tab.path}
                  aria-current={route.tab === tab.id ? 'page' : undefined}
                  onClick={(e) => {
                    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                    e.preventDefault();
                    go(tab.id);
                  }}
                >
                  {tab.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        <h1 ref={heading} tabIndex={-1}>
          {label}
        </h1>
        {route.tab === 'dashboard' && <DashboardTab onOpenOrder={(id) => go('orders', id)} />}
        {route.tab === 'products' && <ProductsTab userId={userId} onOpenCart={() => go('cart')} />}
        {route.tab === 'cart' && (
          <CartTab
            userId={userId}
            onOpenOrder={(id) => go('orders', id)}
            onBrowse={() => go('products')}
          />
        )}
        {route.tab === 'orders' && (
          <OrdersTab
            userId={userId}
            selectedId={route.orderId}
            onSelect={(id) => navigate({ tab: 'orders', orderId: id }, true)}
          />
        )}
      </main>
    </div>
  );
}

export default function App({ feedOptions }: { feedOptions?: FeedOptions }) {
  return (
    <OrderFeedProvider options={feedOptions}>
      <Shell />
    </OrderFeedProvider>
  );
}
