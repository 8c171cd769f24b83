/**
 * OpenTelemetry metrics, through `@opentelemetry/api`, an optional peer dependency: when it is
 * not installed nothing is recorded and nothing is loaded. Instruments come from the meter
 * provider registered globally (`metrics.setGlobalMeterProvider`, which the OpenTelemetry SDKs
 * do) or the one given to {@link configureMetrics}; a provider registered after Baton was loaded
 * is picked up at the next measurement.
 *
 * | instrument | kind | unit | extra attributes |
 * | --- | --- | --- | --- |
 * | `baton.acquire.duration` | histogram | s | `baton.outcome` |
 * | `baton.acquires` | counter | `{acquire}` | `baton.outcome`: acquired, timeout, aborted, error |
 * | `baton.waiting` | up-down counter | `{contender}` | |
 * | `baton.holding` | up-down counter | `{hold}` | |
 * | `baton.hold.duration` | histogram | s | `baton.end`: released, lost |
 * | `baton.losses` | counter | `{loss}` | `baton.cause`: session-lost, key-deleted, watch-failed |
 * | `baton.session.keepalive.duration` | histogram | s | (only `baton.backend`) |
 *
 * Every instrument but the keepalive one carries `baton.backend`, `baton.recipe` and `baton.name`.
 * Names are unbounded, so their cardinality is bounded: at most `maxNames` distinct values
 * (default 1000; later names are reported as `_other`), and `nameAttribute` maps a name to the
 * value reported (e.g. its first segment), or to undefined to leave the attribute out.
 * @module
 */
import { createRequire } from 'node:module';
import type * as OpenTelemetry from '@opentelemetry/api';
import type { BackendKind } from '../backends/contract.js';
import type { LossCause, RecipeKind } from './channels.js';

type Api = typeof OpenTelemetry;

/**
 * An OpenTelemetry `MeterProvider` (from `@opentelemetry/api`), described structurally so that
 * Baton's types do not require the optional package.
 */
export interface MeterProviderLike {
  getMeter(name: string, version?: string, options?: object): unknown;
}

/** Options of {@link configureMetrics}. */
export interface MetricsOptions {
  /** The meter provider to use instead of the global one. */
  meterProvider?: MeterProviderLike;
  /**
   * The `baton.name` attribute for a recipe name: the name itself by default. Return a coarser
   * value (a prefix, a pattern) to bound cardinality, or undefined to leave the attribute out.
   */
  nameAttribute?: (name: string) => string | undefined;
  /** At most this many distinct `baton.name` values are reported; later ones as `_other`. Default 1000. */
  maxNames?: number;
}

/** The outcome of an acquire, as `baton.outcome`. */
export type AcquireOutcome = 'acquired' | 'timeout' | 'aborted' | 'error';

/** The attribute value that replaces names beyond `maxNames`. */
export const OTHER_NAME = '_other';

interface Instruments {
  provider: MeterProviderLike;
  acquireDuration: OpenTelemetry.Histogram;
  acquires: OpenTelemetry.Counter;
  waiting: OpenTelemetry.UpDownCounter;
  holding: OpenTelemetry.UpDownCounter;
  holdDuration: OpenTelemetry.Histogram;
  losses: OpenTelemetry.Counter;
  keepalive: OpenTelemetry.Histogram;
}

let api: Api | null | undefined;
let options: MetricsOptions = {};
let instruments: Instruments | undefined;
const names = new Set<string>();
/**
 * Meters by backend, recipe and name, for the instruments `metersOf` names: thousands of acquires
 * waiting on one name share one meter (its closures and attributes) instead of each keeping its own.
 */
const meters = new Map<string, RecipeMeter>();
let metersOf: Instruments | undefined;

/** The OpenTelemetry API if it is installed; loaded once, on first use. */
function loadApi(): Api | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@opentelemetry/api') as Api;
    } catch {
      api = null;
    }
  }
  return api;
}

/**
 * Sets where metrics go and how names are reported. Call it before connecting, or at any time:
 * it applies from the next measurement. `configureMetrics({})` restores the defaults.
 */
export function configureMetrics(next: MetricsOptions): void {
  options = { ...next };
  instruments = undefined;
  noopProvider = undefined;
  names.clear();
  meters.clear();
}

/** The last provider found to hand out only the API's no-op meter (none registered yet). */
let noopProvider: MeterProviderLike | undefined;

function current(): Instruments | undefined {
  const otel = loadApi();
  if (!otel) return undefined;
  const provider = options.meterProvider ?? otel.metrics.getMeterProvider();
  if (instruments?.provider === provider) return instruments;
  if (provider === noopProvider) return undefined;
  const meter = provider.getMeter('baton-locks') as OpenTelemetry.Meter;
  // The API installed with no SDK registered: every instrument would discard what it is given, so
  // measure nothing (an acquire then costs no meter, no closure, no listener on its hold).
  if (meter === otel.createNoopMeter?.()) {
    noopProvider = provider;
    return undefined;
  }
  const seconds = { unit: 's' };
  instruments = {
    provider,
    acquireDuration: meter.createHistogram('baton.acquire.duration', { ...seconds, description: 'How long acquires waited, by outcome' }),
    acquires: meter.createCounter('baton.acquires', { unit: '{acquire}', description: 'Acquires by outcome: acquired, timeout, aborted, error' }),
    waiting: meter.createUpDownCounter('baton.waiting', { unit: '{contender}', description: 'Contenders waiting in line' }),
    holding: meter.createUpDownCounter('baton.holding', { unit: '{hold}', description: 'Holds currently held' }),
    holdDuration: meter.createHistogram('baton.hold.duration', { ...seconds, description: 'How long holds were held, by how they ended' }),
    losses: meter.createCounter('baton.losses', { unit: '{loss}', description: 'Holds lost, by cause' }),
    keepalive: meter.createHistogram('baton.session.keepalive.duration', { ...seconds, description: 'Round trip of session keepalives' }),
  };
  return instruments;
}

/**
 * Whether measurements go anywhere: `@opentelemetry/api` is installed and a meter provider that
 * is not the API's no-op one is registered or configured. Checked per acquire, so a provider
 * registered later is picked up by the next acquire.
 */
export function metricsActive(): boolean {
  return current() !== undefined;
}

/** The attributes of a recipe's measurements, with the name bounded as configured. */
function attributes(backend: BackendKind, recipe: RecipeKind, name: string): OpenTelemetry.Attributes {
  const mapped = options.nameAttribute ? options.nameAttribute(name) : name;
  if (mapped === undefined) return { 'baton.backend': backend, 'baton.recipe': recipe };
  let reported = mapped;
  if (!names.has(mapped)) {
    if (names.size < (options.maxNames ?? 1000)) names.add(mapped);
    else reported = OTHER_NAME;
  }
  return { 'baton.backend': backend, 'baton.recipe': recipe, 'baton.name': reported };
}

/** A recipe's measurements, with its attributes computed once. */
export interface RecipeMeter {
  waitStarted(): void;
  waitEnded(outcome: AcquireOutcome, waitedMs: number): void;
  holdEnded(heldMs: number, cause: LossCause | undefined): void;
}

const NO_METER: RecipeMeter = { waitStarted() {}, waitEnded() {}, holdEnded() {} };

/** The meter of acquires on one name and the holds they lead to; a no-op without OpenTelemetry. */
export function recipeMeter(backend: BackendKind, recipe: RecipeKind, name: string): RecipeMeter {
  const meter = current();
  if (!meter) return NO_METER;
  if (metersOf !== meter) {
    meters.clear();
    metersOf = meter;
  }
  const id = `${backend}\0${recipe}\0${name}`;
  let found = meters.get(id);
  if (!found) {
    found = meterOf(meter, attributes(backend, recipe, name));
    // Bounded like the reported names: a process using very many names starts over.
    if (meters.size >= (options.maxNames ?? 1000)) meters.clear();
    meters.set(id, found);
  }
  return found;
}

function meterOf(meter: Instruments, attrs: OpenTelemetry.Attributes): RecipeMeter {
  return {
    waitStarted: () => meter.waiting.add(1, attrs),
    waitEnded: (outcome, waitedMs) => {
      meter.waiting.add(-1, attrs);
      const withOutcome = { ...attrs, 'baton.outcome': outcome };
      meter.acquires.add(1, withOutcome);
      meter.acquireDuration.record(waitedMs / 1000, withOutcome);
      if (outcome === 'acquired') meter.holding.add(1, attrs);
    },
    holdEnded: (heldMs, cause) => {
      meter.holding.add(-1, attrs);
      meter.holdDuration.record(heldMs / 1000, { ...attrs, 'baton.end': cause ? 'lost' : 'released' });
      if (cause) meter.losses.add(1, { ...attrs, 'baton.cause': cause });
    },
  };
}

/** Records one keepalive's round trip. */
export function recordKeepalive(backend: BackendKind, latencyMs: number): void {
  current()?.keepalive.record(latencyMs / 1000, { 'baton.backend': backend });
}
