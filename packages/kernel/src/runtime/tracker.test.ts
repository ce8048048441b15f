import { describe, expect, it } from 'vitest';
import { crashMessage } from './tracker.js';

describe('crashMessage', () => {
  it('uses the message format of Prefect for non-zero exit codes, with the diagnosis', () => {
    expect(
      crashMessage({
        identifier: 'c::t',
        status: 'stopped',
        exitCode: 137,
        stopCode: 'EssentialContainerExited',
        stopReason: 'OutOfMemoryError: Container killed due to memory usage',
      }),
    ).toBe(
      'Flow run infrastructure exited with non-zero status code 137. EssentialContainerExited: OutOfMemoryError: Container killed due to memory usage',
    );
  });
  it('explains a zero exit without a final state, and a stop without an exit code', () => {
    expect(crashMessage({ identifier: 'c::t', status: 'stopped', exitCode: 0 })).toBe(
      'Flow run infrastructure exited with status code 0, but the flow run never reported a final state.',
    );
    expect(
      crashMessage({
        identifier: 'c::t',
        status: 'stopped',
        stopCode: 'TaskFailedToStart',
        stopReason: 'CannotPullContainerError',
      }),
    ).toBe(
      'Flow run infrastructure stopped without an exit code. TaskFailedToStart: CannotPullContainerError',
    );
  });
});
