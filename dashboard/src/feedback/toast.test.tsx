import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { MAX_TOASTS, toast, Toaster, TOAST_MS } from './toast';

const shown = () =>
  within(screen.getByRole('region', { name: 'Notifications' }))
    .queryAllByRole('status')
    .map((t) => t.querySelector('.toast-text')?.textContent);

describe('toasts', () => {
  it('go away on their own, and never pile up', () => {
    vi.useFakeTimers();
    render(<Toaster />);
    act(() => {
      toast('one');
      toast('two');
    });
    expect(shown()).toEqual(['one', 'two']);
    act(() => {
      toast('three');
      toast('four');
    });
    expect(shown()).toHaveLength(MAX_TOASTS);
    expect(shown()).toEqual(['two', 'three', 'four']);
    act(() => vi.advanceTimersByTime(TOAST_MS));
    expect(shown()).toEqual([]);
  });

  it('offer their action and a way to dismiss them', async () => {
    const user = userEvent.setup();
    const open = vi.fn();
    render(<Toaster />);
    act(() => {
      toast('Added 1 × Mouse to your cart', { label: 'View cart', onClick: open });
      toast('Saved Mouse.');
    });
    await user.click(screen.getByRole('button', { name: 'View cart' }));
    expect(open).toHaveBeenCalledOnce();
    expect(shown()).toEqual(['Saved Mouse.']);
    await user.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(shown()).toEqual([]);
  });
});
