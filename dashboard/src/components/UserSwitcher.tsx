import { useEffect, useId, useState, type FormEvent } from 'react';
import { newUserId, userIdProblem } from '../user';

/** Shows the current user and switches to another (or a new) one. */
export function UserSwitcher({
  userId,
  onChange,
}: {
  userId: string;
  onChange: (userId: string) => void;
}) {
  const [draft, setDraft] = useState(userId);
  const [problem, setProblem] = useState<string | null>(null);
  const inputId = useId();
  const errorId = useId();
  useEffect(() => setDraft(userId), [userId]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const issue = userIdProblem(draft);
    setProblem(issue);
    if (!issue) onChange(draft.trim());
  };

  return (
    <form className="user-switcher" onSubmit={submit} aria-label="Switch user">
      <label htmlFor={inputId}>User</label>
      <input
        id={inputId}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        autoComplete="off"
        spellCheck={false}
        maxLength={128}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? errorId : undefined}
      />
      <button type="submit" className="button button-small" disabled={draft.trim() === userId}>
        Switch
      </button>
      <button
        type="button"
        className="button button-small button-secondary"
        onClick={() => {
          setProblem(null);
          onChange(newUserId());
        }}
      >
        New user
      </button>
      {problem && (
        <p className="user-problem" id={errorId} role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}
