// A Fetch-shaped function over a peer's mTLS dispatcher, for libraries that
// take a custom fetch (openid-client, jose). URLs on the gateway's public
// origin go straight to identity's internal listener instead: the console
// signs in over mTLS with its own SVID and never loops through the edge.
import { request, type Agent } from '@bulwark/core'
import type { Dispatcher } from 'undici'

export type PeerTarget = { url: string; dispatcher: Agent }

export function createPeerFetch(options: { publicOrigin: string; identity: () => PeerTarget; timeoutMs?: number }) {
  return async function peerFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : input)
    const identity = options.identity()
    const internal = new URL(identity.url)
    // Only identity is reached this way: the public origin maps to it, its own origin stays.
    if (url.origin !== options.publicOrigin && url.origin !== internal.origin) throw new TypeError(`refusing to fetch \`${url.origin}\``)
    const target = new URL(`${url.pathname}${url.search}`, internal)
    const headers = Object.fromEntries(new Headers(init.headers).entries())
    const body = init.body === undefined || init.body === null ? undefined : String(init.body)
    const res = await request(target, {
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod, headers, body, dispatcher: identity.dispatcher,
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
