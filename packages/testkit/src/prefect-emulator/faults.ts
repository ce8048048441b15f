import type { FaultController, FaultHandle, FaultRequestInfo, FaultRule } from './types.js';

/** What the server does with one request once the fault rules have been consulted. */
export interface FaultPlan {
  latencyMs: number;
  response: NonNullable<FaultRule['response']> | null;
  drop: 'before' | 'after' | null;
  /** Names of the rules that fired. */
  names: string[];
}

interface ActiveRule {
  rule: FaultRule;
  name: string;
  remaining: number;
  hits: number;
}

function templateMatches(template: string, path: string, route: string | null): boolean {
  if (template === path || template === route) return true;
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  return want.every((seg, i) => seg === '*' || (seg.startsWith('{') && seg.endsWith('}')) || seg === got[i]);
}

function ruleMatches(rule: Pick<FaultRule, 'method' | 'path' | 'when'>, info: FaultRequestInfo): boolean {
  if (rule.method !== undefined) {
    const methods = typeof rule.method === 'string' ? [rule.method] : rule.method;
    if (!methods.some((m) => m.toUpperCase() === info.method)) return false;
  }
  const { path } = rule;
  if (typeof path === 'string' && !templateMatches(path, info.path, info.route)) return false;
  if (path instanceof RegExp && !path.test(info.path)) return false;
  if (typeof path === 'function' && !path(info)) return false;
  if (rule.when && !rule.when(info)) return false;
  return true;
}

/**
 * Per-route fault injection. Rules are consulted in insertion order; the latencies of all firing rules add
 * up, and the first firing rule with a response or a drop decides the outcome. A rule fires when it
 * matches, has applications left (`times`) and wins its `probability` draw from the seeded PRNG.
 */
export class Faults implements FaultController {
  private rules: ActiveRule[] = [];
  private counter = 0;
  private globalLatency: { ms: number; match?: Pick<FaultRule, 'method' | 'path' | 'when'> } = { ms: 0 };

  constructor(
    private readonly rng: () => number,
    initialLatencyMs: number,
  ) {
    this.globalLatency = { ms: initialLatencyMs };
  }

  add(rule: FaultRule): FaultHandle {
    this.counter += 1;
    const active: ActiveRule = {
      rule,
      name: rule.name ?? `fault-${this.counter}`,
      remaining: rule.times ?? Number.POSITIVE_INFINITY,
      hits: 0,
    };
    this.rules.push(active);
    return {
      name: active.name,
      remaining: () => active.remaining,
      hits: () => active.hits,
      remove: () => {
        this.rules = this.rules.filter((r) => r !== active);
      },
    };
  }

  clear(): void {
    this.rules = [];
    this.globalLatency = { ms: 0 };
  }

  setLatency(ms: number, match?: Pick<FaultRule, 'method' | 'path' | 'when'>): void {
    this.globalLatency = match ? { ms, match } : { ms };
  }

  plan(info: FaultRequestInfo): FaultPlan {
    const plan: FaultPlan = { latencyMs: 0, response: null, drop: null, names: [] };
    const global = this.globalLatency;
    if (global.ms > 0 && (!global.match || ruleMatches(global.match, info))) plan.latencyMs += global.ms;
    for (const active of this.rules) {
      if (active.remaining <= 0 || !ruleMatches(active.rule, info)) continue;
      const decides =
        active.rule.response !== undefined || (active.rule.drop !== undefined && active.rule.drop !== false);
      if (decides && (plan.response || plan.drop)) continue;
      const probability = active.rule.probability ?? 1;
      if (probability < 1 && this.rng() >= probability) continue;
      active.remaining -= 1;
      active.hits += 1;
      plan.names.push(active.name);
      plan.latencyMs += active.rule.latencyMs ?? 0;
      if (active.rule.response) plan.response = active.rule.response;
      else if (active.rule.drop === 'after') plan.drop = 'after';
      else if (active.rule.drop === true || active.rule.drop === 'before') plan.drop = 'before';
    }
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return plan;
  }
}
