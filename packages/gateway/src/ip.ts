// Addresses and CIDR lists (IPv4 and IPv6) on node:net's BlockList, and the
// client address behind trusted proxies (RFC 7239 §5.2 semantics for XFF:
// walk from the right, skipping proxies we trust).
import { BlockList, isIP } from 'node:net'

/** `::ffff:1.2.3.4` → `1.2.3.4`; strips an IPv6 zone. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return ''
  let value = address.trim()
  const zone = value.indexOf('%')
  if (zone !== -1) value = value.slice(0, zone)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(value)
  return mapped ? mapped[1]! : value.toLowerCase()
}

export type CidrList = { readonly size: number; has(ip: string): boolean }

/** Builds a matcher; throws a TypeError naming the first bad entry. */
export function createCidrList(entries: readonly string[]): CidrList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, prefixText] = entry.split('/')
    const family = isIP(address ?? '')
    if (family === 0) throw new TypeError(`\`${entry}\` is not an IP address or CIDR`)
    const max = family === 4 ? 32 : 128
    const prefix = prefixText === undefined ? max : Number(prefixText)
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
      throw new TypeError(`\`${entry}\` has a bad prefix length`)
    }
    list.addSubnet(normalizeIp(address!), prefix, family === 4 ? 'ipv4' : 'ipv6')
  }
  return {
    size: entries.length,
    has(ip) {
      const family = isIP(ip)
      return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
    },
  }
}

/**
 * The client's address: the socket peer, unless that peer is a trusted proxy,
 * in which case the right-most X-Forwarded-For entry that is not itself trusted.
 */
export function clientIpOf(remote: string | undefined, forwardedFor: string | string[] | undefined, trusted: CidrList): string {
  const peer = normalizeIp(remote)
  if (trusted.size === 0 || !trusted.has(peer) || forwardedFor === undefined) return peer
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => normalizeIp(h))
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!
    if (isIP(hop) === 0) return peer
    if (!trusted.has(hop)) return hop
  }
  return hops[0] && isIP(hops[0]) ? hops[0] : peer
}
