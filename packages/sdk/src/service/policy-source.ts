// Where a secured service gets its Authorizer when none is given: the sdk
// policy client, which pulls the active set from the policy service over
// mTLS (ETag + long-poll), keeps the last good one and evaluates in-process.
// Until a set has been loaded every decision is a deny (fail closed).
import type { Authorizer } from '@bulwark/core'
import { createPolicyClient } from '../policy/index.ts'
import type { ComponentRuntime } from '../runtime/index.ts'

export type ClosableAuthorizer = Authorizer & { close(): Promise<void> }

export function loadPolicyAuthorizer(rt: ComponentRuntime): ClosableAuthorizer {
  const policy = rt.peer('policy')
  const client = createPolicyClient({ url: policy.url, dispatcher: policy.dispatcher, log: rt.log, metrics: rt.metrics, clock: rt.clock })
  rt.health.addCheck('policy', () => client.version() !== undefined)
  return client
}
