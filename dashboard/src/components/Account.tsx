import { useId, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, errorMessage, register } from '../api';
import { useSession } from '../session';
import { ActionButton, ErrorMessage } from './common';

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

function Field({
  label,
  type,
  value,
  onChange,
  autoComplete,
  hint,
  invalid,
}: {
  label: string;
  type: string;
  value: string;
  onChange: (value: string) => void;
  autoComplete: string;
  hint?: string;
  invalid?: boolean;
}) {
  const id = useId();
  const hintId = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type={type}
        value={value}
        required
        autoComplete={autoComplete}
        aria-invalid={invalid || undefined}
        aria-describedby={hint ? hintId : undefined}
        onChange={(e) => onChange(e.target.value)}
      />
      {hint && (
        <small id={hintId} className="muted">
          {hint}
        </small>
      )}
    </div>
  );
}

/** The sign-in page. */
export function SignInPage({ onDone, onRegister }: { onDone: () => void; onRegister: () => void }) {
  const { signIn } = useSession();
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
      <Field label="Email" type="email" value={email} onChange={setEmail} autoComplete="username" />
      <Field
        label="Password"
        type="password"
        value={password}
        onChange={setPassword}
        autoComplete="current-password"
      />
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

/** The page to make a customer account (then signed in). */
export function RegisterPage({ onDone, onSignIn }: { onDone: () => void; onSignIn: () => void }) {
  const { signIn } = useSession();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const short = password.length > 0 && [...password].length < MIN_PASSWORD;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    if ([...password].length < MIN_PASSWORD) {
      setProblem(`Choose a password of at least ${MIN_PASSWORD} characters.`);
      return;
    }
    setPending(true);
    try {
      await register(email.trim(), password, name.trim());
      await signIn(email.trim(), password);
      onDone();
    } catch (err) {
      setProblem(
        err instanceof ApiError && err.status === 409
          ? 'This email has an account already: sign in instead.'
          : errorMessage(err),
      );
      setPending(false);
    }
  };

  return (
    <form className="panel account-form" onSubmit={submit} aria-labelledby="register-title">
      <h2 id="register-title">Create an account</h2>
      <Field label="Name" type="text" value={name} onChange={setName} autoComplete="name" />
      <Field label="Email" type="email" value={email} onChange={setEmail} autoComplete="email" />
      <Field
        label="Password"
        type="password"
        value={password}
        onChange={setPassword}
        autoComplete="new-password"
        hint={`At least ${MIN_PASSWORD} characters, not your email.`}
        invalid={short}
      />
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
