import { useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, errorMessage, register } from '../api';
import { useSession } from '../session';
import { isClean, problemOnField, textProblem, type Problems } from '../validate';
import { ActionButton, ErrorMessage, focusFirstProblem, FormField } from './common';

/** The shortest password the identity service takes. */
export const MIN_PASSWORD = 10;

/** Where the account pages lead. */
export interface AccountLinks {
  onSignIn: () => void;
  onRegister: () => void;
}

/** Why a sign-in failed, in words for the person. */
function signInProblem(err: unknown): string {
  if (err instanceof ApiError && err.status === 401) return 'Wrong email or password.';
  if (err instanceof ApiError && err.status === 429) {
    return `${err.detail}. Other addresses and accounts are not affected.`;
  }
  return errorMessage(err);
}

/** The sign-in page. */
export function SignInPage({ onDone, onRegister }: { onDone: () => void; onRegister: () => void }) {
  const { signIn, provider } = useSession();
  const formId = useId();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    setPending(true);
    try {
      await signIn(email.trim(), password);
      onDone();
    } catch (err) {
      setProblem(signInProblem(err));
      setPending(false);
    }
  };

  return (
    <form className="panel account-form" onSubmit={submit} aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in to Shop</h2>
      {provider && (
        <p>
          {/* A page of the provider's, then back here signed in: a
              navigation, not a call. */}
          <a className="button" href="/api/session/oidc">
            Sign in with single sign-on
          </a>
          <span className="muted"> or with a Shop account:</span>
        </p>
      )}
      <FormField id={`${formId}-email`} label="Email">
        {(control) => (
          <input
            {...control}
            type="email"
            value={email}
            required
            autoComplete="username"
            onChange={(e) => setEmail(e.target.value)}
          />
        )}
      </FormField>
      <FormField id={`${formId}-password`} label="Password">
        {(control) => (
          <input
            {...control}
            type="password"
            value={password}
            required
            autoComplete="current-password"
            onChange={(e) => setPassword(e.target.value)}
          />
        )}
      </FormField>
      <ErrorMessage>{problem}</ErrorMessage>
      <ActionButton type="submit" className="button button-primary" pending={pending} pendingText="Signing in…">
        Sign in
      </ActionButton>
      <p className="muted">
        New here?{' '}
        <button type="button" className="link-button" onClick={onRegister}>
          Create an account
        </button>
      </p>
    </form>
  );
}

type AccountField = 'name' | 'email' | 'password';
const ACCOUNT_FIELDS: readonly AccountField[] = ['name', 'email', 'password'];

/** Every problem of the register form, by field. */
export function accountProblems(name: string, email: string, password: string): Problems<AccountField> {
  const trimmedEmail = email.trim();
  return {
    name: textProblem('Name', name, 100, { required: true }),
    email: !trimmedEmail
      ? 'Enter your email address.'
      : /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmedEmail)
        ? undefined
        : 'Enter an email address such as ada@example.com.',
    password:
      [...password].length < MIN_PASSWORD
        ? `Choose a password of at least ${MIN_PASSWORD} characters.`
        : password.trim().toLowerCase() === trimmedEmail.toLowerCase()
          ? 'Choose a password that is not your email address.'
          : undefined,
  };
}

/** The page to make a customer account (then signed in). */
export function RegisterPage({ onDone, onSignIn }: { onDone: () => void; onSignIn: () => void }) {
  const { signIn } = useSession();
  const formId = useId();
  const formRef = useRef<HTMLFormElement>(null);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [problems, setProblems] = useState<Problems<AccountField>>({});
  const [problem, setProblem] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const found = accountProblems(name, email, password);
    setProblems(found);
    if (!isClean(found)) {
      focusFirstProblem(formRef.current);
      return;
    }
    setPending(true);
    try {
      await register(email.trim(), password, name.trim());
      await signIn(email.trim(), password);
      onDone();
    } catch (err) {
      const onField = problemOnField(err, ACCOUNT_FIELDS);
      if (err instanceof ApiError && err.status === 409) {
        setProblems({ email: 'This email has an account already: sign in instead.' });
      } else if (onField) {
        setProblems(onField);
      } else {
        setProblem(errorMessage(err));
      }
      focusFirstProblem(formRef.current);
      setPending(false);
    }
  };

  return (
    <form
      ref={formRef}
      className="panel account-form"
      onSubmit={submit}
      noValidate
      aria-labelledby="register-title"
    >
      <h2 id="register-title">Create an account</h2>
      <FormField id={`${formId}-name`} label="Name" problem={problems.name}>
        {(control) => (
          <input {...control} value={name} autoComplete="name" onChange={(e) => setName(e.target.value)} />
        )}
      </FormField>
      <FormField id={`${formId}-email`} label="Email" problem={problems.email}>
        {(control) => (
          <input
            {...control}
            type="email"
            value={email}
            autoComplete="email"
            onChange={(e) => setEmail(e.target.value)}
          />
        )}
      </FormField>
      <FormField
        id={`${formId}-password`}
        label="Password"
        problem={problems.password}
        hint={`At least ${MIN_PASSWORD} characters, not your email.`}
      >
        {(control) => (
          <input
            {...control}
            type="password"
            value={password}
            autoComplete="new-password"
            onChange={(e) => setPassword(e.target.value)}
          />
        )}
      </FormField>
      <ErrorMessage>{problem}</ErrorMessage>
      <ActionButton
        type="submit"
        className="button button-primary"
        pending={pending}
        pendingText="Creating the account…"
      >
        Create account
      </ActionButton>
      <p className="muted">
        Have an account?{' '}
        <button type="button" className="link-button" onClick={onSignIn}>
          Sign in
        </button>
      </p>
    </form>
  );
}

/** The top bar's account: who is signed in and sign-out, or the links. */
export function AccountMenu({ onSignIn, onRegister, onSignedOut }: AccountLinks & { onSignedOut: () => void }) {
  const { account, signOut } = useSession();
  const [pending, setPending] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  if (!account) {
    return (
      <div className="account-menu">
        <button type="button" className="button button-small" onClick={onSignIn}>
          Sign in
        </button>
        <button type="button" className="button button-small button-secondary" onClick={onRegister}>
          Register
        </button>
      </div>
    );
  }
  const leave = async () => {
    setPending(true);
    setProblem(null);
    try {
      await signOut();
      onSignedOut();
    } catch (err) {
      setProblem(`Not signed out: ${errorMessage(err)}`);
    } finally {
      setPending(false);
    }
  };
  return (
    <div className="account-menu">
      <span className="account-name" data-testid="account-name">
        {account.name}
        {account.role === 'staff' && <span className="chip">staff</span>}
      </span>
      <ActionButton className="button button-small button-secondary" pending={pending} pendingText="Signing out…" onClick={() => void leave()}>
        Sign out
      </ActionButton>
      {problem && (
        <p className="user-problem" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}

/** What a page shows to someone who may not see it. */
export function NotAllowed({ children, links }: { children: ReactNode; links?: AccountLinks }) {
  return (
    <div className="panel not-allowed" role="status">
      <p>{children}</p>
      {links && (
        <p>
          <button type="button" className="button button-primary" onClick={links.onSignIn}>
            Sign in
          </button>{' '}
          <button type="button" className="button button-secondary" onClick={links.onRegister}>
            Create an account
          </button>
        </p>
      )}
    </div>
  );
}
