import { describe, expect, it } from 'vitest';
import { createMemoryLogger, Redactor } from './logger.js';

describe('logger redaction', () => {
  it('masks sensitive keys, env lists and registered secret values everywhere', () => {
    const redactor = new Redactor().addSecret('pnu_supersecretkey');
    const logger = createMemoryLogger({ redactor });
    logger.child({ flowRunId: 'r1' }).info('using key pnu_supersecretkey for the call', {
      env: {
        PREFECT_API_KEY: 'pnu_supersecretkey',
        PREFECT_API_URL: 'http://x/api',
        AWS_SECRET_ACCESS_KEY: 'abc123456',
      },
      environment: [{ name: 'PREFECT_API_AUTH_STRING', value: 'user:pass' }],
      prefect_api_key_secret_arn: 'arn:aws:secretsmanager:us-east-1:1:secret:k',
      nested: { deeper: ['pnu_supersecretkey'] },
    });
    const [r] = logger.records;
    expect(r?.message).toBe('using key *** for the call');
    expect(r?.meta).toEqual({
      flowRunId: 'r1',
      env: { PREFECT_API_KEY: '***', PREFECT_API_URL: 'http://x/api', AWS_SECRET_ACCESS_KEY: '***' },
      environment: [{ name: 'PREFECT_API_AUTH_STRING', value: '***' }],
      prefect_api_key_secret_arn: 'arn:aws:secretsmanager:us-east-1:1:secret:k',
      nested: { deeper: ['***'] },
    });
    expect(JSON.stringify(logger.records)).not.toContain('supersecret');
    expect(JSON.stringify(logger.records)).not.toContain('user:pass');
  });
  it('filters by level', () => {
    const logger = createMemoryLogger({ level: 'warn' });
    logger.info('no');
    logger.warn('yes');
    expect(logger.records.map((r) => r.message)).toEqual(['yes']);
  });
});
