import { MetricsRegistry } from '@stevedore/kernel';
import { describe, expect, it } from 'vitest';
import { createCliSink, formatPretty, outputOptions, writeSummary } from './output.js';

const record = {
  level: 'warn' as const,
  time: '2026-11-22T12:15:32.123Z',
  message: "Flow run 'x' crashed.",
  meta: { worker: 'w', flowRunId: 'abc', attempts: 2, error: { message: 'boom now' }, nested: { a: 1 } },
};

describe('CLI output', () => {
  it('is JSON lines unless the stream is a terminal, and --json forces JSON on a terminal', () => {
    const w = () => undefined;
    expect(outputOptions(false, { isTTY: false }, {}, w)).toMatchObject({
      json: true,
      tty: false,
      color: false,
    });
    expect(outputOptions(false, { isTTY: true }, {}, w)).toMatchObject({
      json: false,
      tty: true,
      color: true,
    });
    expect(outputOptions(true, { isTTY: true }, {}, w)).toMatchObject({ json: true, color: false });
    expect(outputOptions(false, { isTTY: true }, { NO_COLOR: '1' }, w)).toMatchObject({
      json: false,
      color: false,
    });
  });

  it('writes a readable line on a terminal: time, level, message, the meta that matters', () => {
    expect(formatPretty(record, false)).toBe(
      '12:15:32 WARN  Flow run \'x\' crashed. flowRunId=abc attempts=2 error="boom now"',
    );
    expect(formatPretty(record, true)).toContain('\x1b[33mWARN \x1b[0m');
  });

  it('writes the full record as one JSON line otherwise', () => {
    const lines: string[] = [];
    createCliSink({ json: true, tty: false, color: false, write: (l) => lines.push(l) })(record);
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      level: 'warn',
      time: '2026-11-22T12:15:32.123Z',
      msg: "Flow run 'x' crashed.",
      worker: 'w',
      flowRunId: 'abc',
      attempts: 2,
      error: { message: 'boom now' },
      nested: { a: 1 },
    });
  });

  it('summarises the session from the metrics, as a table or one JSON line', () => {
    const m = new MetricsRegistry();
    m.counter('stevedore_flow_runs_claimed_total', '').inc(undefined, 3);
    m.counter('stevedore_flow_runs_launched_total', '').inc(undefined, 3);
    m.counter('stevedore_flow_runs_crashed_total', '').inc({ stage: 'infrastructure' });
    const table: string[] = [];
    writeSummary({ json: false, tty: true, color: false, write: (l) => table.push(l) }, m);
    expect(table).toEqual([
      'Flow runs this session:',
      '  claimed                     3',
      '  launched                    3',
      '  crashed before launch       0',
      '  crashed after launch        1',
      '  cancelled                   0',
      '  relaunched                  0',
    ]);
    const json: string[] = [];
    writeSummary({ json: true, tty: false, color: false, write: (l) => json.push(l) }, m);
    expect(JSON.parse(json[0] ?? '')).toMatchObject({
      msg: 'Worker summary',
      claimed: 3,
      crashed_after_launch: 1,
    });
  });
});
