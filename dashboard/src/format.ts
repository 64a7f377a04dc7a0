/** A timestamp from the API as local date and time, e.g. "Nov 28, 14:27". */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** A timestamp as local time of day with seconds, for the live feed. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** "order_status_updated" -> "Order status updated". */
export function humanize(snake: string): string {
  const words = snake.replace(/_/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const counting = new Intl.NumberFormat();

/** A count with the browser's thousands separators: "10,000". */
export function formatCount(count: number): string {
  return counting.format(count);
}

/** "1 order", "10,000 orders". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}
