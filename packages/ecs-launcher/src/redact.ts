import { isDoc } from './documents.js';

/** Names whose values are secrets (same rule as the kernel's logger): API keys, auth strings, tokens, passwords. */
const SENSITIVE_NAME =
  /(api[_-]?key|auth[_-]?string|password|passwd|secret|token|credential|authorization|session)/i;
/** ARNs of secrets are references, not secrets. */
const ARN_NAME = /(_arn|Arn)$/;

/** True when a value stored under this name must never be logged. @internal */
export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name) && !ARN_NAME.test(name);
}

/**
 * Deep copy of an ECS request or task definition fit for logs: the `value` of every `{ name, value }` entry
 * with a sensitive name (ECS environment lists) and every string under a sensitive key become `***`.
 *
 * @remarks The reference masks only `PREFECT_API_KEY` / `PREFECT_API_AUTH_STRING` to their first 6 characters
 * (spec §2.4 D, `mask_api_key`). We mask whole values and any sensitive name, and do not rely on the kernel's
 * logger to do it.
 * @internal
 */
export function redactForLog(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactForLog);
  if (!isDoc(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = typeof v === 'string' && k !== 'clientToken' && isSensitiveName(k) ? '***' : redactForLog(v);
  }
  if (typeof out.name === 'string' && 'value' in out && isSensitiveName(out.name)) out.value = '***';
  return out;
}
