import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Bucket, StatsPoint } from '../api';
import { formatDateTime } from '../format';
import { formatCompactMoney, formatMoney } from '../money';

const HEIGHT = 260;

/** The axis label of a bucket's start. */
function bucketLabel(start: string, bucket: Bucket): string {
  if (bucket === 'hour') return formatDateTime(start);
  return new Date(start).toLocaleDateString(undefined, {
    month: 'short',
    day: 'numeric',
    timeZone: 'UTC',
  });
}

/** The chart's options: revenue as bars on the left axis, orders as a line
 * on the right one. */
function options(width: number, bucket: Bucket): uPlot.Options {
  return {
    width,
    height: HEIGHT,
    // Bucket starts are UTC: show them as such, like the table below.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { drag: { x: false, y: false } },
    legend: { show: true, live: false },
    scales: { x: { time: true }, revenue: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    series: [
      {
        value: (_u, ts) => (ts == null ? '—' : bucketLabel(new Date(ts * 1000).toISOString(), bucket)),
      },
      {
        label: 'Revenue',
        scale: 'revenue',
        stroke: '#1d4ed8',
        fill: 'rgba(29, 78, 216, 0.25)',
        width: 1,
        points: { show: false },
        paths: uPlot.paths.bars!({ size: [0.7, 40] }),
        value: (_u, v) => (v == null ? '—' : formatMoney(v)),
      },
      {
        label: 'Orders',
        scale: 'orders',
        stroke: '#136c34',
        width: 2,
        points: { show: false },
        value: (_u, v) => (v == null ? '—' : String(v)),
      },
    ],
    axes: [
      {},
      {
        scale: 'revenue',
        size: 64,
        values: (_u, ticks) => ticks.map(formatCompactMoney),
      },
      { scale: 'orders', side: 1, size: 48, grid: { show: false } },
    ],
  };
}

/** Whether this browser can draw the chart (not so under jsdom). */
function canDraw(): boolean {
  if (typeof ResizeObserver === 'undefined') return false;
  try {
    return document.createElement('canvas').getContext('2d') != null;
  } catch {
    return false;
  }
}

/**
 * Revenue and orders over time, drawn with uPlot on a canvas that follows
 * the width of its box; the same figures as a table for screen readers and
 * for anyone who wants the numbers.
 */
export function RevenueChart({ series, bucket }: { series: StatsPoint[]; bucket: Bucket }) {
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el || !canDraw()) return;
    const data: uPlot.AlignedData = [
      series.map((p) => Date.parse(p.start) / 1000),
      series.map((p) => p.revenue),
      series.map((p) => p.orders),
    ];
    const plot = new uPlot(options(Math.max(200, el.clientWidth), bucket), data, el);
    const resize = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [series, bucket]);

  const total = series.reduce((sum, p) => sum + p.orders, 0);
  const step = bucket === 'hour' ? 'hour' : 'day';
  return (
    <figure className="chart">
      <div
        ref={box}
        className="chart-canvas"
        role="img"
        aria-label={`Revenue and orders by ${step}: ${total} orders over ${series.length} ${step}s`}
        data-testid="revenue-chart"
      />
      <figcaption className="muted">
        Revenue (bars, left axis) and orders (line, right axis) by {step} of placing, in UTC.
      </figcaption>
      <details className="chart-table">
        <summary>Show the figures</summary>
        <div className="table-scroll">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">{bucket === 'hour' ? 'Hour' : 'Day'}</th>
                <th scope="col" className="num">
                  Orders
                </th>
                <th scope="col" className="num">
                  Revenue
                </th>
              </tr>
            </thead>
            <tbody>
              {[...series].reverse().map((p) => (
                <tr key={p.start}>
                  <td>{bucketLabel(p.start, bucket)}</td>
                  <td className="num">{p.orders}</td>
                  <td className="num">{formatMoney(p.revenue)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
