// Where a secured service gets its Authorizer when none is given: the sdk
// policy client, which fetches the active set from the policy service over
// mTLS, keeps the last good one and evaluates in-process. Until a set has
// been loaded every decision is a deny (fail closed).
import type { Authorizer } from '@bulwark/core'
import type { ComponentRuntime } from '../runtime/index.ts'

export type ClosableAuthorizer = Authorizer & { close(): Promise<void> }

type PolicyModule = {
  createPolicyClient(options: { url: string; agent: unknown; dispatcher?: unknown; log: unknown }): Authorizer & { close?: () => unknown; stop?: () => unknown }
}

export async function loadPolicyAuthorizer(rt: ComponentRuntime): Promise<ClosableAuthorizer> {
  const specifier = '../policy/index.ts'
  const mod = await import(specifier) as PolicyModule
  const policy = rt.peer('policy')
  const client = mod.createPolicyClient({ url: policy.url, agent: policy.dispatcher, dispatcher: policy.dispatcher, log: rt.log })
  return {
    authorize: (request) => client.authorize(request),
    async close() {
      await client.close?.()
      await client.stop?.()
    },
  }
}
