import { describe, expect, it } from 'vitest';
import { loadUserId, newUserId, saveUserId, USER_KEY, userIdProblem } from './user';

describe('user id', () => {
  it('makes and keeps a user<number> id when none is stored', () => {
    const first = loadUserId();
    expect(first).toMatch(/^user\d+$/);
    expect(window.localStorage.getItem(USER_KEY)).toBe(first);
    expect(loadUserId()).toBe(first);
  });

  it('reads a stored id', () => {
    saveUserId('alice');
    expect(loadUserId()).toBe('alice');
  });

  it('checks the length the services accept', () => {
    expect(userIdProblem('  ')).toMatch(/enter/i);
    expect(userIdProblem('x'.repeat(129))).toMatch(/128/);
    expect(userIdProblem('x'.repeat(128))).toBeNull();
    expect(newUserId()).toMatch(/^user\d+$/);
  });
});
