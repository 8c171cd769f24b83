/**
 * OpenTelemetry metrics, read back through the real SDK's in-memory exporter.
 */
import diagnostics from 'node:diagnostics_channel';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureMetrics, connect } from '../../src/index.js';
import { CHANNELS } from '../../src/observability/channels.js';
import { backendOf, type MemoryBackend } from '../../src/testing.js';

let reader: PeriodicExportingMetricReader;
let provider: MeterProvider;

beforeEach(() => {
  // Exports only when asked: every figure below comes from an explicit collection.
  reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 2 ** 31 - 1,
  });
  provider = new MeterProvider({ readers: [reader] });
});

afterEach(async () => {
  configureMetrics({});
  metrics.disable();
  await provider.shutdown();
});

async function collect(): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const found = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) found.set(metric.descriptor.name, metric);
  return found;
}

/** The value of the data point whose attributes include `match`. */
function point(data: Map<string, MetricData>, metric: string, match: Record<string, string>): DataPoint<number | Histogram> | undefined {
  const points = (data.get(metric)?.dataPoints ?? []) as DataPoint<number | Histogram>[];
  return points.find((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
}

function ended(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

describe('OpenTelemetry metrics', () => {
  it('counts outcomes, waiting and holding, wait and hold times, and losses by cause', async () => {
    configureMetrics({ meterProvider: provider });
    const coord = await connect();
    const name = 'metrics/jobs';
    const base = { 'baton.backend': 'memory', 'baton.recipe': 'mutex', 'baton.name': name };

    const first = await coord.mutex(name).acquire();
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const second = coord.mutex(name).acquire({ onQueued: () => queued() });
    await isQueued;
    let data = await collect();
    expect(point(data, 'baton.waiting', base)?.value).toBe(1);
    expect(point(data, 'baton.holding', base)?.value).toBe(1);

    await expect(coord.mutex(name).acquire({ timeoutMs: 10 })).rejects.toMatchObject({ name: 'TimeoutError' });
    const abort = new AbortController();
    const aborted = coord.mutex(name).acquire({ signal: abort.signal });
    abort.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });

    await first.release();
    const held = await second;
    (backendOf(coord) as MemoryBackend).deleteKey(held.key);
    await ended(held.signal);

    data = await collect();
    const outcome = (o: string) => point(data, 'baton.acquires', { ...base, 'baton.outcome': o })?.value;
    expect([outcome('acquired'), outcome('timeout'), outcome('aborted'), outcome('error')]).toEqual([2, 1, 1, undefined]);
    expect(point(data, 'baton.waiting', base)?.value).toBe(0);
    expect(point(data, 'baton.holding', base)?.value).toBe(0);
    const waits = point(data, 'baton.acquire.duration', { ...base, 'baton.outcome': 'acquired' })?.value as Histogram;
    expect(waits.count).toBe(2);
    expect(data.get('baton.acquire.duration')?.descriptor.unit).toBe('s');
    const released = point(data, 'baton.hold.duration', { ...base, 'baton.end': 'released' })?.value as Histogram;
    const lost = point(data, 'baton.hold.duration', { ...base, 'baton.end': 'lost' })?.value as Histogram;
    expect([released.count, lost.count]).toEqual([1, 1]);
    expect(point(data, 'baton.losses', { ...base, 'baton.cause': 'key-deleted' })?.value).toBe(1);
    await coord.close();
  });

  it('uses the globally registered meter provider, also one registered after Baton was loaded', async () => {
    metrics.setGlobalMeterProvider(provider);
    const coord = await connect();
    const permit = await coord.semaphore('metrics/global', { permits: 2 }).acquire();
    await permit.release();
    const data = await collect();
    expect(point(data, 'baton.acquires', { 'baton.recipe': 'semaphore', 'baton.name': 'metrics/global', 'baton.outcome': 'acquired' })?.value).toBe(1);
    await coord.close();
  });

  it('records keepalive latency per backend', async () => {
    configureMetrics({ meterProvider: provider });
    const coord = await connect({ backend: 'memory', ttl: 0.06 });
    const lease = await coord.mutex('metrics/keepalive').acquire();
    // Keepalives run every ttl/3 = 20 ms: wait for three of them to be reported.
    await new Promise<void>((resolve) => {
      let seen = 0;
      const listener = () => {
        if (++seen < 3) return;
        diagnostics.unsubscribe(CHANNELS.sessionRenewed, listener);
        resolve();
      };
      diagnostics.subscribe(CHANNELS.sessionRenewed, listener);
    });
    const data = await collect();
    const keepalives = point(data, 'baton.session.keepalive.duration', { 'baton.backend': 'memory' })?.value as Histogram;
    expect(keepalives.count).toBeGreaterThanOrEqual(3);
    await lease.release();
    await coord.close();
  });

  it('bounds name cardinality: maxNames, then _other; nameAttribute maps or drops names', async () => {
    configureMetrics({ meterProvider: provider, maxNames: 2 });
    const coord = await connect();
    for (const name of ['card/a', 'card/b', 'card/c', 'card/d']) await (await coord.mutex(name).acquire()).release();
    let data = await collect();
    const names = ((data.get('baton.acquires')?.dataPoints ?? []) as DataPoint<number>[]).map((p) => [p.attributes['baton.name'], p.value]);
    expect(names).toEqual([
      ['card/a', 1],
      ['card/b', 1],
      ['_other', 2],
    ]);

    configureMetrics({ meterProvider: provider, nameAttribute: (name) => (name.startsWith('tenant/') ? 'tenant/*' : undefined) });
    for (const name of ['tenant/1', 'tenant/2', 'other']) await (await coord.mutex(name).acquire()).release();
    data = await collect();
    const points = (data.get('baton.acquires')?.dataPoints ?? []) as DataPoint<number>[];
    expect(points.find((p) => p.attributes['baton.name'] === 'tenant/*')?.value).toBe(2);
    expect(points.find((p) => !('baton.name' in p.attributes))?.value).toBe(1);
    await coord.close();
  });
});
