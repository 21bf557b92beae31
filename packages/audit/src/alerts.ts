// What happens when a detector fires: the alert is stored (and listed by
// `bulwark alerts`), written to the log itself as `alert.raised`, sent to the
// optional webhook, and its response carried out (an account lock at
// identity, or an IP/client block published to gateways).
import { randomUUID } from 'node:crypto'
import type { AuditSink, Clock, Logger, Metrics, SqlExecutor, SqlStore } from '@bulwark/core'
import type { Writer } from './log.ts'
import type { AuditConfig } from './config.ts'
import type { BlockList } from './blocks.ts'
import type { Detection } from './detect/types.ts'
import { postWebhook, type LockAccount } from './responders.ts'

export type ResponseOutcome = { action: string; status: 'done' | 'skipped' | 'failed' | 'pending'; detail?: string }

export type Alert = Detection & { seq: number; id: string; time: string; response?: Detection['response']; outcome?: ResponseOutcome }

type AlertRow = { seq: number; id: string; detector: string; severity: string; key: string; summary: string; time: number; details: string; response: string | null }

export type AlertCenter = {
  raise(detection: Detection): Promise<Alert>
  raiseAll(detections: readonly Detection[]): Promise<Alert[]>
  list(after: number, limit: number): Promise<Alert[]>
}

export type AlertDeps = {
  store: SqlStore
  /** Runs `fn` with the log's writer (alerts are stored by the writer only). */
  exclusive<T>(fn: (writer: Writer) => Promise<T>): Promise<T>
  clock: Clock
  log: Logger
  metrics: Metrics
  audit: AuditSink
  blocks: BlockList
  lockAccount?: LockAccount
}

export function createAlertCenter(config: AuditConfig, deps: AlertDeps): AlertCenter {
  const counter = deps.metrics.counter('bulwark_audit_alerts_total', 'Alerts raised by detectors', ['detector', 'severity'])
  const exempt = new Set(config.blockExemptIps)

  /** Decides a response now when it is local (a block); account locks go to identity afterwards. */
  async function decide(tx: SqlExecutor, alertId: string, detection: Detection): Promise<ResponseOutcome | undefined> {
    const response = detection.response
    if (!response) return undefined
    if (response.kind === 'lock') {
      const action = `lock account \`${response.user}\` for ${response.seconds}s${response.revokeSessions ? ' and revoke its sessions' : ''}`
      if (!config.responses.lockAccounts || !deps.lockAccount) return { action, status: 'skipped', detail: 'account lockout responses are off' }
      return { action, status: 'pending' }
    }
    const action = `block ${response.target} \`${response.value}\` for ${response.seconds}s`
    const enabled = { ip: config.responses.blockIps, client: config.responses.blockClients, subject: config.responses.blockSubjects }[response.target]
    if (!enabled) return { action, status: 'skipped', detail: `${response.target} blocks are off` }
    if (response.target === 'ip' && exempt.has(response.value)) return { action, status: 'skipped', detail: 'address is exempt from blocking' }
    await deps.blocks.add(tx, { kind: response.target, value: response.value, reason: detection.detector, alertId, seconds: response.seconds })
    return { action, status: 'done' }
  }

  async function lock(alert: Alert): Promise<Alert> {
    const response = alert.response
    if (alert.outcome?.status !== 'pending' || response?.kind !== 'lock') return alert
    let outcome: ResponseOutcome
    try {
      await deps.lockAccount!(response.user, response.seconds, `audit alert ${alert.id}: ${alert.detector}`, { revokeSessions: response.revokeSessions })
      outcome = { action: alert.outcome.action, status: 'done' }
    } catch (error) {
      outcome = { action: alert.outcome.action, status: 'failed', detail: (error as Error).message.slice(0, 200) }
    }
    const text = JSON.stringify({ ...response, outcome })
    await deps.exclusive((writer) => writer.transaction((tx) => tx.run('UPDATE alerts SET response = ? WHERE id = ?', [text, alert.id])))
      .catch((error: unknown) => deps.log.error({ err: error, alert: alert.id }, 'recording an alert response failed'))
    return { ...alert, outcome }
  }

  function announce(alert: Alert): void {
    counter.inc({ detector: alert.detector, severity: alert.severity })
    deps.log.warn({ alert: alert.id, detector: alert.detector, key: alert.key }, alert.summary)
    deps.audit.emit({
      type: 'alert.raised', actor: { kind: 'service' }, action: `detect.${alert.detector}`, resource: alert.key,
      outcome: 'success', reason: alert.detector,
      details: { alertId: alert.id, severity: alert.severity, response: alert.outcome ? `${alert.outcome.action}: ${alert.outcome.status}` : null },
    })
    if (config.webhookUrl) {
      postWebhook(config.webhookUrl, { alert }).catch((error: unknown) => deps.log.warn({ err: (error as Error).message, alert: alert.id }, 'alert webhook failed'))
    }
  }

  /** Stores every alert of one commit (and its blocks) in one transaction, then responds. */
  async function raiseAll(detections: readonly Detection[]): Promise<Alert[]> {
    if (detections.length === 0) return []
    const time = deps.clock.now()
    const alerts = await deps.exclusive((writer) => writer.transaction(async (tx) => {
      const made: Alert[] = []
      for (const detection of detections) {
        const id = `alrt_${randomUUID().replaceAll('-', '')}`
        const outcome = await decide(tx, id, detection)
        const response = detection.response ? JSON.stringify({ ...detection.response, ...(outcome ? { outcome } : {}) }) : null
        const { seq } = (await tx.one<{ seq: number }>('INSERT INTO alerts (id, detector, severity, key, summary, time, details, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq',
          [id, detection.detector, detection.severity, detection.key, detection.summary, time, JSON.stringify(detection.details), response]))!
        made.push({ ...detection, seq, id, time: new Date(time).toISOString(), ...(outcome ? { outcome } : {}) } as Alert)
      }
      return made
    }))
    deps.blocks.notify()
    return await Promise.all(alerts.map(async (alert) => {
      const done = await lock(alert)
      announce(done)
      return done
    }))
  }

  return {
    raiseAll,
    async raise(detection) {
      return (await raiseAll([detection]))[0]!
    },
    async list(after, limit) {
      const rows = await deps.store.all<AlertRow>('SELECT seq, id, detector, severity, key, summary, time, details, response FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?', [after, limit])
      return rows.map((row) => {
        const response = row.response ? JSON.parse(row.response) as Detection['response'] & { outcome?: ResponseOutcome } : undefined
        const { outcome, ...rest } = response ?? {}
        return {
          seq: row.seq, id: row.id, detector: row.detector, severity: row.severity as Alert['severity'], key: row.key, summary: row.summary,
          time: new Date(row.time).toISOString(), details: JSON.parse(row.details) as Alert['details'],
          ...(response ? { response: rest as Detection['response'], outcome } : {}),
        }
      })
    },
  }
}
