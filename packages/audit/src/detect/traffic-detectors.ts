// Detectors on enforcement events: bursts of 401/403/429 from one client or
// address, a workload calling routes its policy does not allow (lateral
// movement), and unusual reads of secrets by one principal.
import type { DetectorsConfig } from '../config.ts'
import type { AuditActor } from '@bulwark/core'
import type { BlockTarget, Detector } from './types.ts'
import { createCooldown, createWindowCounter } from './window.ts'

const REFUSALS = new Set(['authn.failed', 'authz.denied', 'rate_limit.exceeded'])

/**
 * Whom a burst is blamed on: a client acting for itself (client credentials),
 * else the user (blocking a public client such as shop-cli would lock out
 * every user of it), else the address.
 */
function burstTarget(actor: AuditActor): { target: BlockTarget; value: string } | undefined {
  if (actor.kind === 'client' && actor.clientId) return { target: 'client', value: actor.clientId }
  if (actor.id) return { target: 'subject', value: actor.id }
  if (actor.clientId) return { target: 'client', value: actor.clientId }
  if (actor.ip) return { target: 'ip', value: actor.ip }
  return undefined
}

export function errorBurstDetector(config: DetectorsConfig['errorBurst']): Detector {
  const windowMs = config.windowSeconds * 1000
  const counts = createWindowCounter(windowMs)
  const authRefusals = createWindowCounter(windowMs)
  const cooldown = createCooldown(windowMs)
  return {
    name: 'error_burst',
    observe(event, at) {
      if (!REFUSALS.has(event.type) || event.actor.kind === 'service') return undefined
      const target = burstTarget(event.actor)
      if (!target) return undefined
      const key = `${target.target}:${target.value}`
      const count = counts.add(key, at)
      // 429s are already throttled by the rate limiter: they raise the alert but never a block on their own.
      const auth = event.type === 'rate_limit.exceeded' ? authRefusals.count(key, at) : authRefusals.add(key, at)
      if (count < config.threshold || !cooldown(key, at)) return undefined
      return {
        detector: 'error_burst', severity: 'medium', key,
        summary: `${count} refused requests (401/403/429) from ${target.target} \`${target.value}\` within ${config.windowSeconds}s`,
        details: { [target.target]: target.value, refusals: count, authRefusals: auth, windowSeconds: config.windowSeconds, lastType: event.type },
        ...(auth >= config.threshold ? { response: { kind: 'block' as const, ...target, seconds: config.blockSeconds } } : {}),
      }
    },
  }
}

export function serviceDeniedDetector(config: DetectorsConfig['serviceDenied']): Detector {
  const windowMs = config.windowSeconds * 1000
  const counts = createWindowCounter(windowMs)
  const cooldown = createCooldown(windowMs)
  return {
    name: 'service_denied',
    observe(event, at) {
      if (event.type !== 'authz.denied' || event.actor.kind !== 'service') return undefined
      const who = event.actor.spiffeId ?? event.actor.id ?? 'unknown'
      const count = counts.add(who, at)
      if (count < config.threshold || !cooldown(who, at)) return undefined
      return {
        detector: 'service_denied', severity: 'high', key: `service:${who}`,
        summary: `service \`${who}\` called \`${event.resource ?? event.route ?? event.action}\`, which policy does not allow it (consider \`bulwark incident quarantine\`)`,
        details: { service: who, resource: event.resource ?? null, route: event.route ?? null, reportedBy: event.component, denials: count },
      }
    },
  }
}

export function secretReadsDetector(config: DetectorsConfig['secretReads']): Detector {
  const windowMs = config.windowSeconds * 1000
  const reads = createWindowCounter(windowMs)
  const paths = createWindowCounter(windowMs)
  const cooldown = createCooldown(windowMs)
  return {
    name: 'secret_reads',
    observe(event, at) {
      if (event.type !== 'secret.read') return undefined
      const who = event.actor.spiffeId ?? event.actor.id ?? event.actor.clientId
      if (!who) return undefined
      const count = reads.add(who, at)
      const distinct = paths.addDistinct(who, event.resource ?? '', at)
      if ((count < config.threshold && distinct < config.distinctPaths) || !cooldown(who, at)) return undefined
      return {
        detector: 'secret_reads', severity: 'medium', key: `principal:${who}`,
        summary: `\`${who}\` read ${count} secrets (${distinct} distinct paths) within ${config.windowSeconds}s`,
        details: { principal: who, reads: count, distinctPaths: distinct, windowSeconds: config.windowSeconds },
      }
    },
  }
}
