import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { isTransient } from './queryClient';

describe('isTransient', () => {
  it('tries again after the network or a 5xx, never after a refusal', () => {
    expect(isTransient(new ApiError(0, 'Cannot reach the server'))).toBe(true);
    expect(isTransient(new ApiError(503, 'Order service unavailable'))).toBe(true);
    expect(isTransient(new TypeError('Failed to fetch'))).toBe(true);
    for (const status of [400, 401, 403, 404, 409, 422, 429]) {
      expect(isTransient(new ApiError(status, 'no'))).toBe(false);
    }
  });
});
