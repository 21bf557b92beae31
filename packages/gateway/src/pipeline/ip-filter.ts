// IP filter: the client address (X-Forwarded-For believed only from trusted
// proxies, RFC 7239 §5.2), then deny lists win over allow lists, global first,
// then the route's. An empty allow list allows everyone not denied.
import type { CidrList } from '../ip.ts'
import { clientIpOf, createCidrList } from '../ip.ts'
import { GatewayErrors } from '../errors.ts'
import type { Stage } from './types.ts'

export type IpFilterOptions = { allow: readonly string[]; deny: readonly string[]; trustedProxies: readonly string[] }

function refused(ip: string, allow: CidrList | undefined, deny: CidrList | undefined): boolean {
  if (deny && deny.has(ip)) return true
  return allow !== undefined && allow.size > 0 && !allow.has(ip)
}

export function createIpFilterStage(options: IpFilterOptions): Stage {
  const allow = createCidrList(options.allow)
  const deny = createCidrList(options.deny)
  const trusted = createCidrList(options.trustedProxies)
  return {
    name: 'ip-filter',
    async run(req, ctx) {
      ctx.clientIp = clientIpOf(req.remoteAddress, req.headers['x-forwarded-for'], trusted)
      const ip = ctx.clientIp
      if (refused(ip, allow, deny)) throw GatewayErrors.ipDenied(`client address \`${ip}\` is not allowed`)
      if (ctx.route && refused(ip, ctx.route.allowIps, ctx.route.denyIps)) {
        throw GatewayErrors.ipDenied(`route \`${ctx.route.id}\`: client address \`${ip}\` is not allowed`)
      }
    },
  }
}
