/** Where the current user id is kept between visits. */
export const USER_KEY = 'userId';

/** A new user id as the seed made them: `user` and a random number. */
export function newUserId(): string {
  return `user${Math.floor(Math.random() * 10000)}`;
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** The stored user id, or a new one (stored) when there is none. */
export function loadUserId(): string {
  const store = storage();
  const saved = store?.getItem(USER_KEY)?.trim();
  if (saved) return saved;
  const fresh = newUserId();
  store?.setItem(USER_KEY, fresh);
  return fresh;
}

export function saveUserId(userId: string): void {
  storage()?.setItem(USER_KEY, userId);
}

/** Why a user id cannot be used, or null when it can (the services accept
 * 1 to 128 characters). */
export function userIdProblem(userId: string): string | null {
  const trimmed = userId.trim();
  if (!trimmed) return 'Enter a user id.';
  if ([...trimmed].length > 128) return 'A user id has at most 128 characters.';
  return null;
}
