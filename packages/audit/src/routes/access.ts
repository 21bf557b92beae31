// Who is calling, from the verified mTLS peer: a platform component
// (spiffe://<td>/svc/<name>) or the operator (spiffe://<td>/operator/<name>).
import type { FastifyRequest } from 'fastify'
import { parseSpiffeId, requirePeer, serviceNameOf } from '@bulwark/core'
import { AuditErrors } from '../errors.ts'

export type Access = {
  trustDomain: string
  isOperator(spiffeId: string): boolean
  isService(spiffeId: string, name?: string): boolean
}

export function createAccess(trustDomain: string): Access {
  const inDomain = (id: string) => parseSpiffeId(id)?.trustDomain === trustDomain
  return {
    trustDomain,
    isOperator: (id) => inDomain(id) && /^\/operator\/[A-Za-z0-9._-]+$/.test(parseSpiffeId(id)!.path),
    isService: (id, name) => inDomain(id) && serviceNameOf(id) !== undefined && (name === undefined || serviceNameOf(id) === name),
  }
}

export function requireOperator(request: FastifyRequest, access: Access): void {
  requirePeer(request, (id) => access.isOperator(id))
}

/** Reads of the log and alerts: the operator, or the console (it shows them to a signed-in admin). */
export function requireReader(request: FastifyRequest, access: Access): void {
  requirePeer(request, (id) => access.isOperator(id) || access.isService(id, 'console'))
}

/** The component an event writer speaks for: its service name, or `cli` for the operator. */
export function writerOf(request: FastifyRequest, access: Access): { component: string; operator: boolean; spiffeId: string } {
  const peer = requirePeer(request, (id) => access.isOperator(id) || access.isService(id))
  if (access.isOperator(peer.spiffeId)) return { component: 'cli', operator: true, spiffeId: peer.spiffeId }
  return { component: serviceNameOf(peer.spiffeId)!, operator: false, spiffeId: peer.spiffeId }
}

type IntOptions = { min: number; max: number; fallback?: number }

/** An integer query parameter, or a 400 naming it. */
export function intParam(query: unknown, name: string, options: IntOptions): number | undefined {
  const raw = (query as Record<string, unknown> | undefined)?.[name]
  if (raw === undefined || raw === '') return options.fallback
  if (typeof raw !== 'string' || !/^-?\d{1,16}$/.test(raw)) throw AuditErrors.badQuery(`\`${name}\` must be an integer`)
  const value = Number(raw)
  if (value < options.min || value > options.max) throw AuditErrors.badQuery(`\`${name}\` must be between ${options.min} and ${options.max}`)
  return value
}

export function stringParam(query: unknown, name: string, pattern: RegExp): string | undefined {
  const raw = (query as Record<string, unknown> | undefined)?.[name]
  if (raw === undefined || raw === '') return undefined
  if (typeof raw !== 'string' || !pattern.test(raw)) throw AuditErrors.badQuery(`\`${name}\` is not valid`)
  return raw
}

