// What happens when a detector fires: the alert is stored (and listed by
// `bulwark alerts`), written to the log itself as `alert.raised`, sent to the
// optional webhook, and its response carried out (an account lock at
// identity, or an IP/client block published to gateways).
import { randomUUID } from 'node:crypto'
import type { AuditSink, Clock, Database, Logger, Metrics } from '@bulwark/core'
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
  list(after: number, limit: number): Alert[]
}

export type AlertDeps = { db: Database; clock: Clock; log: Logger; metrics: Metrics; audit: AuditSink; blocks: BlockList; lockAccount?: LockAccount }

export function createAlertCenter(config: AuditConfig, deps: AlertDeps): AlertCenter {
  const insert = deps.db.prepare('INSERT INTO alerts (id, detector, severity, key, summary, time, details, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq')
  const setResponse = deps.db.prepare('UPDATE alerts SET response = ? WHERE id = ?')
  const list = deps.db.prepare('SELECT seq, id, detector, severity, key, summary, time, details, response FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?')
  const counter = deps.metrics.counter('bulwark_audit_alerts_total', 'Alerts raised by detectors', ['detector', 'severity'])
  const exempt = new Set(config.blockExemptIps)

  /** Decides a response now when it is local (a block); account locks go to identity afterwards. */
  function decide(alertId: string, detection: Detection): ResponseOutcome | undefined {
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
    deps.blocks.add({ kind: response.target, value: response.value, reason: detection.detector, alertId, seconds: response.seconds })
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
    setResponse.run(JSON.stringify({ ...response, outcome }), alert.id)
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
    const alerts = deps.db.transaction(() => detections.map((detection) => {
      const id = `alrt_${randomUUID().replaceAll('-', '')}`
      const outcome = decide(id, detection)
      const response = detection.response ? JSON.stringify({ ...detection.response, ...(outcome ? { outcome } : {}) }) : null
      const { seq } = insert.get(id, detection.detector, detection.severity, detection.key, detection.summary, time, JSON.stringify(detection.details), response) as { seq: number }
      return { ...detection, seq, id, time: new Date(time).toISOString(), ...(outcome ? { outcome } : {}) } as Alert
    }))
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
    list(after, limit) {
      return (list.all(after, limit) as AlertRow[]).map((row) => {
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
