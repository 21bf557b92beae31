// The first check of every request at the edge, REST and gRPC alike: header
// count and size limits and no repeated single header, in one pass over
// rawHeaders (it runs on every request; see sdk's single-headers.ts for why a
// repeat is refused).
import { scanHeaders } from '@bulwark/sdk/service'
import type { GatewayConfig } from './config.ts'
import { GatewayErrors } from './errors.ts'

export function checkHeaders(rawHeaders: string[], http2: boolean, config: GatewayConfig): void {
  if (rawHeaders.length / 2 > config.limits.maxHeaderCount) throw GatewayErrors.headersTooLarge(`more than ${config.limits.maxHeaderCount} request headers`)
  const scan = scanHeaders(rawHeaders, http2)
  if (typeof scan === 'string') throw GatewayErrors.duplicateHeader(`request header \`${scan}\` appears more than once`, { extensions: { header: scan } })
  if (scan > config.limits.maxHeaderBytes) throw GatewayErrors.headersTooLarge(`request headers larger than ${config.limits.maxHeaderBytes} bytes`)
}
