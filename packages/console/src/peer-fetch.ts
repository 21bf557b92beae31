// A Fetch-shaped function over the console's mTLS peers, for libraries that
// take a custom fetch (openid-client, jose). The public origin (discovery,
// keys) is the gateway, reached with the console's SVID like any peer; identity's
// own origin (RFC 8705 mTLS endpoint aliases: the token endpoint) is identity,
// where the SVID authenticates the client. Any other origin is refused.
import { request, type Agent } from '@bulwark/core'
import type { Dispatcher } from 'undici'

export type PeerTarget = { url: string; dispatcher: Agent }

export function createPeerFetch(options: { publicOrigin: string; gateway: () => PeerTarget; identity: () => PeerTarget; timeoutMs?: number }) {
  return async function peerFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : input)
    const peer = url.origin === options.publicOrigin ? options.gateway()
      : url.origin === new URL(options.identity().url).origin ? options.identity() : undefined
    if (!peer) throw new TypeError(`refusing to fetch \`${url.origin}\``)
    const target = new URL(`${url.pathname}${url.search}`, peer.url)
    const headers = Object.fromEntries(new Headers(init.headers).entries())
    const body = init.body === undefined || init.body === null ? undefined : String(init.body)
    const res = await request(target, {
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod, headers, body, dispatcher: peer.dispatcher,
      headersTimeout: options.timeoutMs ?? 5000, bodyTimeout: options.timeoutMs ?? 5000,
    })
    const bytes = await res.body.arrayBuffer()
    const out = new Headers()
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue
      for (const v of [value].flat()) out.append(name, String(v))
    }
    return new Response(res.statusCode === 204 || res.statusCode === 304 ? null : bytes, { status: res.statusCode, headers: out })
  }
}
