/**
 * Prefect's jitter helpers (`prefect/utilities/math.py`), ported so that retry delays and poll intervals
 * are distributed the way Prefect distributes them. Every function takes the random source explicitly
 * (a `() => number` in [0, 1), like `Math.random`) so tests can make them deterministic.
 */

/** Source of uniform random numbers in [0, 1). @public */
export type RandomSource = () => number;

/**
 * An exponentially distributed ("Poisson inter-arrival") interval with the given mean, drawn from the
 * slice [lower, upper] of the distribution's CDF. Mirrors Prefect's `poisson_interval`.
 * @public
 */
export function poissonInterval(
  averageInterval: number,
  lower: number,
  upper: number,
  random: RandomSource,
): number {
  const u = lower + (upper - lower) * random();
  return -Math.log(Math.max(1 - u, 1e-10)) * averageInterval;
}

function exponentialCdf(x: number, averageInterval: number): number {
  return 1 - Math.exp(-x / averageInterval);
}

/** Prefect's `lower_clamp_multiple`: the lower bound that keeps the mean near the average. */
function lowerClampMultiple(k: number): number {
  if (k >= 50) return 0;
  return Math.log2(Math.max(2 ** k / (2 ** k - 1), 1e-10));
}

/**
 * Prefect's `clamped_poisson_interval`: a Poisson interval clamped to
 * `[c × average, (1 + clampingFactor) × average]`, where `c` is chosen so the mean stays about `average`.
 * For the default HTTP retry factor 0.2 the range is about [0.82, 1.2] × average.
 *
 * @remarks Returns `averageInterval` unchanged when it or `clampingFactor` is not positive (Prefect raises
 * for a non-positive factor; the client never calls it that way, so returning the input is the safe choice).
 * @public
 */
export function clampedPoissonInterval(
  averageInterval: number,
  clampingFactor: number,
  random: RandomSource,
): number {
  if (!(averageInterval > 0) || !(clampingFactor > 0)) return averageInterval;
  const upperMultiple = 1 + clampingFactor;
  const upperBound = averageInterval * upperMultiple;
  const lowerBound = Math.max(0, averageInterval * lowerClampMultiple(upperMultiple));
  return poissonInterval(
    averageInterval,
    exponentialCdf(lowerBound, averageInterval),
    exponentialCdf(upperBound, averageInterval),
    random,
  );
}

/**
 * Prefect's `bounded_poisson_interval`: a Poisson interval in `[lowerBound, upperBound]` whose mean is their
 * midpoint. Used for `Retry-After`, where the server's value is a floor.
 * @public
 */
export function boundedPoissonInterval(lowerBound: number, upperBound: number, random: RandomSource): number {
  const average = (lowerBound + upperBound) / 2;
  if (!(average > 0)) return lowerBound;
  const x = poissonInterval(
    average,
    exponentialCdf(lowerBound, average),
    exponentialCdf(upperBound, average),
    random,
  );
  // Guard against floating-point drift at the edges: the lower bound is a promise to the server.
  return Math.min(upperBound, Math.max(lowerBound, x));
}
