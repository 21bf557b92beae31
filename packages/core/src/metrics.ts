// Prometheus metrics: one registry per component instance (no global state,
// so several instances can live in one test process).
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client'

export { Registry, Counter, Histogram, Gauge }

export type Metrics = {
  registry: Registry
  counter(name: string, help: string, labelNames?: readonly string[]): Counter<string>
  histogram(name: string, help: string, labelNames?: readonly string[], buckets?: number[]): Histogram<string>
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge<string>
}

export function createMetrics(component: string, options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry()
  registry.setDefaultLabels({ component })
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'bulwark_' })
  const seen = new Map<string, unknown>()
  function once<T>(name: string, make: () => T): T {
    if (!seen.has(name)) seen.set(name, make())
    return seen.get(name) as T
  }
  return {
    registry,
    counter: (name, help, labelNames = []) =>
      once(name, () => new Counter({ name, help, labelNames: [...labelNames], registers: [registry] })),
    histogram: (name, help, labelNames = [], buckets) =>
      once(name, () => new Histogram({ name, help, labelNames: [...labelNames], registers: [registry], ...(buckets ? { buckets } : {}) })),
    gauge: (name, help, labelNames = []) =>
      once(name, () => new Gauge({ name, help, labelNames: [...labelNames], registers: [registry] })),
  }
}
