import type { Doc } from './documents.js';

const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));

function diffValue(path: string, before: unknown, after: unknown, out: string[]): void {
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  out.push(`${path}: ${show(before)} → ${show(after)}`);
}

/**
 * What a new registration would change against the family's latest revision, field by field, for the fields the
 * worker sends (ECS adds its own — ARN, revision, status, compatibilities… — which are not compared). Containers are
 * matched by name. `[]` when nothing differs.
 * @internal
 */
export function diffTaskDefinitions(latest: Doc, prepared: Doc): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(prepared)) {
    if (key === 'tags') continue; // RegisterTaskDefinition tags are not returned by DescribeTaskDefinition's definition
    if (key !== 'containerDefinitions' || !Array.isArray(value)) {
      diffValue(key, latest[key], value, out);
      continue;
    }
    const before = Array.isArray(latest.containerDefinitions) ? (latest.containerDefinitions as Doc[]) : [];
    for (const c of value as Doc[]) {
      const name = String(c.name ?? '?');
      const old = before.find((b) => b.name === c.name);
      if (!old) {
        out.push(`containerDefinitions[${name}]: added`);
        continue;
      }
      for (const [k, v] of Object.entries(c)) diffValue(`containerDefinitions[${name}].${k}`, old[k], v, out);
    }
    for (const b of before)
      if (!(value as Doc[]).some((c) => c.name === b.name))
        out.push(`containerDefinitions[${String(b.name)}]: removed`);
  }
  return out;
}
