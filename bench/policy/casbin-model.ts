// The same 200 rules as a casbin model: RBAC roles (g) plus ABAC rules
// evaluated per policy line (eval), permit-unless-forbidden effect.
import { newEnforcer, newModelFromString, type Enforcer } from 'casbin'
import type { AuthzRequest } from '@bulwark/core'
import type { CedarEntity } from '@bulwark/sdk/policy'
import type { Rule } from './workload.ts'

const MODEL = `
[request_definition]
r = sub, obj, act, ctx

[policy_definition]
p = sub_rule, obj_type, act, eft

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.act == "*" || r.act == p.act) && (p.obj_type == "*" || r.obj.type == p.obj_type) && eval(p.sub_rule)
`

export async function createCasbin(rules: readonly Rule[], roles: ReadonlyArray<[string, string]>): Promise<Enforcer> {
  const enforcer = await newEnforcer(newModelFromString(MODEL))
  await enforcer.addPolicies(rules.map((r) => [...r.casbin]))
  await enforcer.addGroupingPolicies(roles.map(([user, role]) => [user, role]))
  return enforcer
}

function flat(entity: CedarEntity | undefined, type: string, id: string): Record<string, unknown> {
  const out: Record<string, unknown> = { type, id }
  for (const [k, v] of Object.entries(entity?.attrs ?? {})) {
    out[k] = v && typeof v === 'object' && '__entity' in (v as object) ? (v as { __entity: { id: string } }).__entity.id : v
  }
  return out
}

/** The casbin arguments for one of our requests (what an enforcement point would build). */
export function casbinArgs(request: AuthzRequest): [Record<string, unknown>, Record<string, unknown>, string, Record<string, unknown>] {
  const entities = (request.entities ?? []) as CedarEntity[]
  const find = (t: string, id: string) => entities.find((e) => e.uid.type === t && e.uid.id === id)
  const ctx = request.context ?? {}
  return [
    flat(find(request.principal.type, request.principal.id), request.principal.type, request.principal.id),
    flat(find(request.resource.type, request.resource.id), request.resource.type, request.resource.id),
    request.action.id,
    { authenticated: ctx.authenticated === true, mfa: ctx.mfa === true },
  ]
}
