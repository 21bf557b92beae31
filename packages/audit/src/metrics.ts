// The audit service's metrics: events/s (over the last 10 s), total events,
// tree size, seconds since the last signed tree head, store integrity.
// Alerts are counted where they are raised (alerts.ts); spool depth is the
// emitter's (sdk).
import { Gauge, type Clock, type Metrics } from '@bulwark/core'
import type { AuditLog } from './log.ts'
import type { TreeHeads } from './tree-heads.ts'

const WINDOW_SECONDS = 10

export function createAuditMetrics(metrics: Metrics, clock: Clock): { committed(count: number): void; attach(log: AuditLog, heads: TreeHeads): void } {
  const total = metrics.counter('bulwark_audit_events_total', 'Audit events appended to the log')
  const buckets = new Map<number, number>()
  return {
    committed(count) {
      total.inc(count)
      const second = Math.floor(clock.now() / 1000)
      buckets.set(second, (buckets.get(second) ?? 0) + count)
      for (const key of buckets.keys()) if (key <= second - WINDOW_SECONDS) buckets.delete(key)
    },
    attach(log, heads) {
      const registers = [metrics.registry]
      new Gauge({
        name: 'bulwark_audit_events_per_second', help: `Audit events appended per second over the last ${WINDOW_SECONDS}s`, registers,
        collect() {
          const now = Math.floor(clock.now() / 1000)
          let sum = 0
          for (const [second, count] of buckets) if (second > now - WINDOW_SECONDS) sum += count
          this.set(sum / WINDOW_SECONDS)
        },
      })
      new Gauge({ name: 'bulwark_audit_tree_size', help: 'Entries in the audit log', registers, collect() { this.set(log.size) } })
      new Gauge({
        name: 'bulwark_audit_tree_head_age_seconds', help: 'Seconds since the last signed tree head', registers,
        collect() { const age = heads.ageSeconds(); this.set(Number.isFinite(age) ? age : -1) },
      })
      new Gauge({ name: 'bulwark_audit_writer', help: '1 while this replica is the log\'s writer (holds the writer lock on PostgreSQL)', registers, collect() { this.set(log.writable ? 1 : 0) } })
      new Gauge({ name: 'bulwark_audit_integrity_ok', help: '1 when the store verified at boot', registers, collect() { this.set(log.bootIntegrity.ok ? 1 : 0) } })
    },
  }
}
