import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from './metrics.js';

describe('MetricsRegistry', () => {
  it('renders counters, gauges and cumulative histograms in the Prometheus text format', () => {
    const m = new MetricsRegistry();
    const calls = m.counter('aws_calls_total', 'AWS calls.');
    calls.inc({ operation: 'RunTask', outcome: 'ok' });
    calls.inc({ outcome: 'ok', operation: 'RunTask' }, 2);
    calls.inc({ operation: 'StopTask', outcome: 'throttled' });
    m.counter('idle_total', 'Never incremented.');
    m.gauge('tracked', 'Tracked runs.', () => 7);
    m.gauge('by_cluster', 'Per cluster.', () => [[{ cluster: 'a"b' }, 2]]);
    const h = m.histogram('latency_seconds', 'Latency.', [1, 0.5]);
    h.observe(0.2);
    h.observe(0.7);
    h.observe(3);
    expect(calls.get({ operation: 'RunTask', outcome: 'ok' })).toBe(3);
    expect(m.render()).toBe(
      [
        '# HELP aws_calls_total AWS calls.',
        '# TYPE aws_calls_total counter',
        'aws_calls_total{operation="RunTask",outcome="ok"} 3',
        'aws_calls_total{operation="StopTask",outcome="throttled"} 1',
        '# HELP by_cluster Per cluster.',
        '# TYPE by_cluster gauge',
        'by_cluster{cluster="a\\"b"} 2',
        '# HELP idle_total Never incremented.',
        '# TYPE idle_total counter',
        'idle_total 0',
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{le="0.5"} 1',
        'latency_seconds_bucket{le="1"} 2',
        'latency_seconds_bucket{le="+Inf"} 3',
        'latency_seconds_sum 3.9',
        'latency_seconds_count 3',
        '# HELP tracked Tracked runs.',
        '# TYPE tracked gauge',
        'tracked 7',
        '',
      ].join('\n'),
    );
  });

  it('returns the same counter for the same name and refuses a name reused for another kind or an invalid name', () => {
    const m = new MetricsRegistry();
    m.counter('x_total', 'x').inc();
    m.counter('x_total', 'x').inc();
    expect(m.counter('x_total', 'x').get()).toBe(2);
    expect(() => m.histogram('x_total', 'x', [1])).toThrow(/already a counter/);
    expect(() => m.counter('bad-name', 'x')).toThrow(/Invalid metric name/);
  });
});
