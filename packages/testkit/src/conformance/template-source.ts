import { isStevedoreError, kernelErrorCodes, type TemplateSource } from '@stevedore/kernel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** What a template-source conformance run needs. @public */
export interface TemplateSourceFixture {
  source: TemplateSource;
  /** A JSON document's URL and the value it holds. */
  json: { url: URL; expected: unknown };
  /** A YAML document's URL and the value it holds. */
  yaml: { url: URL; expected: unknown };
  /** A URL of this scheme that does not exist. */
  missing: URL;
  /** A URL whose content is neither JSON nor YAML. */
  invalid: URL;
  cleanup?: () => Promise<void>;
}

/**
 * The contract every {@link TemplateSource} keeps: parses JSON and YAML by content, reports missing
 * documents as `KERNEL_TEMPLATE_NOT_FOUND` and bad ones as `KERNEL_TEMPLATE_INVALID`, honours abort.
 * @public
 */
export function describeTemplateSourceConformance(
  name: string,
  setup: () => Promise<TemplateSourceFixture>,
): void {
  describe(`TemplateSource conformance: ${name}`, () => {
    let f: TemplateSourceFixture;
    beforeAll(async () => {
      f = await setup();
    });
    afterAll(async () => {
      await f?.cleanup?.();
    });
    const signal = () => AbortSignal.timeout(10_000);

    it('declares a lowercase scheme without the colon', () => {
      expect(f.source.scheme).toMatch(/^[a-z][a-z0-9+.-]*$/);
      expect(f.json.url.protocol).toBe(`${f.source.scheme}:`);
    });
    it('reads a JSON document', async () => {
      await expect(f.source.read(f.json.url, { signal: signal() })).resolves.toEqual(f.json.expected);
    });
    it('reads a YAML document', async () => {
      await expect(f.source.read(f.yaml.url, { signal: signal() })).resolves.toEqual(f.yaml.expected);
    });
    it('returns a fresh value each time (callers may mutate it)', async () => {
      const a = (await f.source.read(f.json.url, { signal: signal() })) as Record<string, unknown>;
      a.__mutated = true;
      const b = (await f.source.read(f.json.url, { signal: signal() })) as Record<string, unknown>;
      expect(b.__mutated).toBeUndefined();
    });
    it('reports a missing document as KERNEL_TEMPLATE_NOT_FOUND naming it', async () => {
      const e = await f.source.read(f.missing, { signal: signal() }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isStevedoreError(e, kernelErrorCodes.TEMPLATE_NOT_FOUND)).toBe(true);
      const last = decodeURIComponent(f.missing.pathname.split('/').pop() ?? '');
      expect((e as Error).message).toContain(last);
    });
    it('reports an unparsable document as KERNEL_TEMPLATE_INVALID', async () => {
      const e = await f.source.read(f.invalid, { signal: signal() }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isStevedoreError(e, kernelErrorCodes.TEMPLATE_INVALID)).toBe(true);
    });
    it('rejects at once when the signal is already aborted', async () => {
      const ac = new AbortController();
      ac.abort(new Error('stop'));
      await expect(f.source.read(f.json.url, { signal: ac.signal })).rejects.toThrow('stop');
    });
  });
}
