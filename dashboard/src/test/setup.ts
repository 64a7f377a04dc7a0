import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, beforeEach, vi } from 'vitest';
import { MockEventSource } from './mocks';
import { queryClient } from '../queryClient';
import { clearToasts } from '../feedback/toast';
import { setCurrency } from '../money';

// jsdom has no matchMedia, which uPlot asks for the pixel ratio on load.
if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addEventListener() {},
      removeEventListener() {},
      addListener() {},
      removeListener() {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}

// jsdom has <dialog> without its methods: open and close it as a browser
// does (without the modality, which jsdom cannot show).
if (!HTMLDialogElement.prototype.showModal) {
  HTMLDialogElement.prototype.showModal = function showModal(this: HTMLDialogElement) {
    this.open = true;
  };
  HTMLDialogElement.prototype.close = function close(this: HTMLDialogElement) {
    if (!this.open) return;
    this.open = false;
    this.dispatchEvent(new Event('close'));
  };
  // Escape closes the open modal dialog, as browsers do.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    document.querySelectorAll('dialog').forEach((d) => d.open && d.close());
  });
}

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
  clearToasts();
  setCurrency('USD');
  // Each test starts with an empty cache; its mocked failures answer at once.
  queryClient.clear();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});
