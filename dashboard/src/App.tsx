import { useCallback, useEffect, useRef, type ReactNode } from 'react';
import { AccountMenu, NotAllowed, RegisterPage, SignInPage, type AccountLinks } from './components/Account';
import { CartTab } from './components/CartTab';
import { ErrorMessage, Loading } from './components/common';
import { DashboardTab } from './components/DashboardTab';
import { OrderPage } from './components/OrderPage';
import { OrdersConsole } from './components/OrdersConsole';
import { OrdersTab } from './components/OrdersTab';
import { ProductsTab } from './components/ProductsTab';
import { UserSwitcher } from './components/UserSwitcher';
import { OrderFeedProvider, POLL_MS, useOrderFeed, type FeedOptions } from './hooks/orderFeed';
import { inAppClick, pageLabel, TABS, useRoute, type PageId, type Route } from './router';
import { SessionProvider, useSession } from './session';
import { Toaster } from './feedback/toast';

function FeedIndicator() {
  const { mode } = useOrderFeed();
  const text =
    mode === 'live'
      ? 'Live updates'
      : mode === 'polling'
        ? `Refreshing every ${POLL_MS / 1000} s`
        : mode === 'off'
          ? 'Sign in for live updates'
          : 'Connecting…';
  return (
    <span className={`feed-indicator feed-${mode}`} role="status">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

/** An address that names no page of the dashboard. */
function NotFound({ onHome }: { onHome: () => void }) {
  return (
    <div className="panel not-found">
      <p>
        There is no page at <code>{window.location.pathname}</code>. It may have moved, or the
        address may be mistyped.
      </p>
      <p>
        <a
          href="/"
          onClick={(e) => {
            e.preventDefault();
            onHome();
          }}
        >
          Go to the dashboard
        </a>
      </p>
    </div>
  );
}

/** The tab's content, or why the person cannot see it. */
function Page({
  route,
  go,
  navigate,
  listSearch,
  links,
}: {
  route: Route;
  go: (page: PageId, orderId?: number | null) => void;
  navigate: (route: Route, replace?: boolean) => void;
  /** The query string of the orders table last shown (for "Back to orders"). */
  listSearch: string;
  links: AccountLinks;
}) {
  const { tab: page, orderId } = route;
  if (page === 'notfound') return <NotFound onHome={() => go('dashboard')} />;
  const session = useSession();
  const { userId, auth, staff } = session;
  if (page === 'signin') {
    return <SignInPage onDone={() => go('products')} onRegister={links.onRegister} />;
  }
  if (page === 'register') {
    return <RegisterPage onDone={() => go('products')} onSignIn={links.onSignIn} />;
  }
  if (page === 'products') {
    return <ProductsTab userId={userId} onOpenCart={() => go('cart')} onSignIn={links.onSignIn} />;
  }
  if (userId === null) {
    const what =
      page === 'cart' ? 'your cart' : page === 'orders' ? 'your orders' : 'the dashboard';
    return (
      <NotAllowed links={links}>
        Sign in to see {what}. Anyone may browse the products.
      </NotAllowed>
    );
  }
  if (page === 'dashboard') {
    return <DashboardTab onOpenOrder={(id) => go('orders', id)} figures={!auth || staff} />;
  }
  if (page === 'cart') {
    return (
      <CartTab
        userId={userId}
        onOpenOrder={(id) => go('orders', id)}
        onBrowse={() => go('products')}
      />
    );
  }
  if (auth && staff) {
    if (orderId !== null) {
      return (
        <OrderPage
          orderId={orderId}
          backHref={`/orders${listSearch}`}
          onBack={() => navigate({ tab: 'orders', orderId: null, search: listSearch })}
        />
      );
    }
    return (
      <OrdersConsole
        search={route.search ?? ''}
        onNavigate={(search) => navigate({ tab: 'orders', orderId: null, search })}
        onOpen={(id) => go('orders', id)}
      />
    );
  }
  return (
    <OrdersTab
      userId={userId}
      selectedId={orderId}
      onSelect={(id) => navigate({ tab: 'orders', orderId: id }, true)}
    />
  );
}

function Shell() {
  const [route, navigate] = useRoute();
  const session = useSession();
  const listSearch = useRef('');
  if (route.tab === 'orders' && route.orderId === null) listSearch.current = route.search ?? '';
  const heading = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);

  const go = useCallback(
    (tab: PageId, orderId: number | null = null) => navigate({ tab, orderId }),
    [navigate],
  );
  const links: AccountLinks = {
    onSignIn: () => go('signin'),
    onRegister: () => go('register'),
  };

  const label = pageLabel(route.tab);
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
          {session.auth ? (
            <AccountMenu {...links} onSignedOut={() => go('products')} />
          ) : (
            session.userId !== null && (
              <UserSwitcher userId={session.userId} onChange={session.switchUser} />
            )
          )}
        </div>
        <nav className="tabs" aria-label="Sections">
          <ul>
            {TABS.map((tab) => (
              <li key={tab.id}>
                <a
                  href={tab.path}
                  aria-current={route.tab === tab.id ? 'page' : undefined}
                  onClick={inAppClick(() => go(tab.id))}
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
        {session.loading ? (
          <Loading>Loading…</Loading>
        ) : session.error ? (
          <ErrorMessage>
            {`Could not reach the shop: ${session.error}`}{' '}
            <button type="button" className="link-button" onClick={session.reload}>
              Retry
            </button>
          </ErrorMessage>
        ) : (
          <Page
            route={route}
            go={go}
            navigate={navigate}
            listSearch={listSearch.current}
            links={links}
          />
        )}
      </main>
      <Toaster />
    </div>
  );
}

/** The live feed of the signed-in user (or of everyone with auth off);
 * none while signed out. */
function Feed({ children, options }: { children: ReactNode; options?: FeedOptions }) {
  const { loading, auth, account } = useSession();
  const enabled = !loading && (!auth || account !== null);
  return (
    <OrderFeedProvider key={account?.id ?? 'open'} options={options} enabled={enabled}>
      {children}
    </OrderFeedProvider>
  );
}

export default function App({ feedOptions }: { feedOptions?: FeedOptions }) {
  return (
    <SessionProvider>
      <Feed options={feedOptions}>
        <Shell />
      </Feed>
    </SessionProvider>
  );
}
