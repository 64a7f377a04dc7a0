import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  type ReactNode,
} from 'react';
import {
  ApiError,
  errorMessage,
  getSession,
  signIn as apiSignIn,
  signOut as apiSignOut,
  type Account,
  type SessionInfo,
} from './api';
import { setUnauthorizedHandler } from './api/http';
import { loadUserId, saveUserId } from './user';
import { setCurrency } from './money';

/** Who uses the page, and what they may do. */
export interface Session {
  /** Still asking the gateway who is signed in. */
  loading: boolean;
  /** The gateway could not be asked; `reload` tries again. */
  error: string | null;
  /** The services check accounts (`AUTH=on`): sign-in instead of a user
   * switcher. */
  auth: boolean;
  /** The signed-in account (auth on), or null. */
  account: Account | null;
  /** Signing in through the shop's identity provider is offered (at
   * `/api/session/oidc`, a page of the provider's, then back here). */
  provider: boolean;
  /** Whose cart and orders the page shows: the account's id with auth on,
   * the switcher's user with auth off; null when signed out. */
  userId: string | null;
  /** May manage products and every order: staff, or anyone with auth off
   * (the seed's open dashboard). */
  staff: boolean;
  signIn: (email: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
  /** Auth off: the user the switcher picked. */
  switchUser: (userId: string) => void;
  reload: () => void;
}

const OPEN: Session = {
  loading: false,
  error: null,
  auth: false,
  account: null,
  provider: false,
  userId: null,
  staff: true,
  signIn: async () => {},
  signOut: async () => {},
  switchUser: () => {},
  reload: () => {},
};

const SessionContext = createContext<Session>(OPEN);

/** The page's session (from {@link SessionProvider}); without one, the open
 * dashboard of auth off. */
export function useSession(): Session {
  return useContext(SessionContext);
}

interface Known {
  auth: boolean;
  account: Account | null;
  provider: boolean;
}

/** Asks the gateway who is signed in. An ended session answers 401 once
 * (and the gateway clears its cookie): the second answer says who is
 * signed in now. */
async function whoIsSignedIn(signal: AbortSignal): Promise<SessionInfo> {
  try {
    return await getSession(signal);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return getSession(signal);
    throw err;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [known, setKnown] = useState<Known | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  // The switcher's user exists only with auth off, and only then is it kept
  // in localStorage; nothing of a signed-in session is.
  const [openUser, setOpenUser] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    whoIsSignedIn(controller.signal).then(
      (info) => {
        setError(null);
        // The shop's currency, before any page shows an amount.
        if (info.currency) setCurrency(info.currency);
        setKnown({ auth: info.auth, account: info.account, provider: info.provider ?? false });
        if (!info.auth) setOpenUser((current) => current ?? loadUserId());
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        setError(errorMessage(err));
      },
    );
    return () => controller.abort();
  }, [attempt]);

  const reload = useCallback(() => setAttempt((n) => n + 1), []);

  // A call refused as unauthenticated: the session may have ended (signed
  // out elsewhere, expired): ask again who is signed in.
  useEffect(() => {
    if (!known?.auth || !known.account) return;
    setUnauthorizedHandler(reload);
    return () => setUnauthorizedHandler(null);
  }, [known, reload]);

  const signIn = useCallback(async (email: string, password: string) => {
    const info = await apiSignIn(email, password);
    setKnown({ auth: info.auth, account: info.account, provider: info.provider ?? false });
  }, []);

  const signOut = useCallback(async () => {
    const info = await apiSignOut();
    setKnown({ auth: info.auth, account: null, provider: info.provider ?? false });
  }, []);

  const switchUser = useCallback((userId: string) => {
    saveUserId(userId);
    setOpenUser(userId);
  }, []);

  const session = useMemo<Session>(() => {
    const auth = known?.auth ?? false;
    const account = known?.account ?? null;
    return {
      loading: known === null && error === null,
      error: known === null ? error : null,
      auth,
      account,
      provider: known?.provider ?? false,
      userId: auth ? (account?.id ?? null) : openUser,
      staff: auth ? account?.role === 'staff' : true,
      signIn,
      signOut,
      switchUser,
      reload,
    };
  }, [known, error, openUser, signIn, signOut, switchUser, reload]);

  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}
