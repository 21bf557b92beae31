// The entities a Cedar Authorizer needs to decide a vault request (see
// cedar/vault.cedar): who the caller is and where the resource sits. The
// local rule engine does not read them; they are built only for an
// Authorizer passed in through deps.
import { parseSpiffeId, serviceNameOf, type AuthzRequest } from '@bulwark/core'

type Entities = NonNullable<AuthzRequest['entities']>

export function createVaultEntities(options: { trustDomain: string; shopServices: readonly string[] }) {
  const shop = new Set(options.shopServices)
  return (principal: { type: string; id: string }, resource: { type: string; id: string }): Entities => {
    const parsed = parseSpiffeId(principal.id)
    const name = serviceNameOf(principal.id) ?? ''
    const principalAttrs = principal.type === 'Operator'
      ? { inTrustDomain: parsed?.trustDomain === options.trustDomain }
      : { inTrustDomain: parsed?.trustDomain === options.trustDomain, name, shop: shop.has(name) }
    let resourceAttrs: Record<string, unknown> = {}
    if (resource.type === 'Secret') {
      const segments = resource.id.split('/')
      resourceAttrs = { space: segments[0] ?? '', owner: segments.length >= 3 ? segments[1]! : '' }
    } else if (resource.type === 'TransitKey') {
      resourceAttrs = { name: resource.id, owner: resource.id.split('-')[0]! }
    }
    return [
      { uid: principal, attrs: principalAttrs, parents: [] },
      { uid: resource, attrs: resourceAttrs, parents: [] },
    ]
  }
}
