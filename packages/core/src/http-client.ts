// undici's Agent, connector and request API without the rest of the package.
// `import 'undici'` also loads fetch, WebSocket, EventSource, the cache and the
// mocks: ~12 MB more resident memory and ~60 ms more start-up in every one of
// the platform's processes (bench/system), for code none of them uses. These
// are the same modules undici's own index wires together (it, too, puts the
// request API on Dispatcher.prototype); the version is pinned in the lockfile.
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const require = createRequire(import.meta.url)
const DispatcherClass = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object }
Object.assign(DispatcherClass.prototype, require('undici/lib/api/index.js') as object)
const { getGlobalDispatcher } = require('undici/lib/global.js') as { getGlobalDispatcher(): Undici.Dispatcher }

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent
export type Agent = Undici.Agent
export const buildConnector = require('undici/lib/core/connect.js') as typeof Undici.buildConnector

export type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & {
  method?: Undici.Dispatcher.HttpMethod
  dispatcher?: Undici.Dispatcher
}

/** undici's `request(url, options)`: one request through `options.dispatcher`. */
export function request(url: string | URL, options: RequestOptions = {}): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher = getGlobalDispatcher(), ...rest } = options
  const target = typeof url === 'string' ? new URL(url) : url
  return dispatcher.request({
    ...rest, origin: target.origin, path: target.search ? `${target.pathname}${target.search}` : target.pathname,
    method: rest.method ?? (rest.body ? 'PUT' : 'GET'),
  })
}
