import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, beforeEach, vi } from 'vitest';
import { MockEventSource } from './mocks';
import { queryClient } from '../queryClient';

beforeEach(() => {
  queryClient.setDefaultOptions({
    queries: { retry: false, refetchOnWindowFocus: false },
    mutations: { retry: false },
  });
  window.localStorage.clear();
  window.history.replaceState(null, '', '/');
  MockEventSource.reset();
  vi.stubGlobal('EventSource', MockEventSource);
});

afterEach(() => {
  cleanup();
  // Each test starts with an empty cache; its mocked failures answer at once.
  queryClient.clear();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});
