// Validate: path parameters, query and body against the route's JSON Schemas
// (compiled once, ajv); the body's media type (RFC 9110 §15.5.16: 415); size
// (413); JSON that is UTF-8 (RFC 8259 §8.1), has no repeated keys (RFC 7493
// §2.3) and nests boundedly; unknown fields refused where the route says so;
// repeated query parameters refused on routes with a query schema.
import type { ErrorObject, ValidateFunction } from 'ajv'
import { GatewayErrors } from '../errors.ts'
import { parseStrictJson } from '../json.ts'
import type { Stage } from './types.ts'

export type ValidateOptions = { maxBodyBytes: number; maxJsonDepth: number }

const utf8 = new TextDecoder('utf-8', { fatal: true })

function failures(where: string, errors: ErrorObject[] | null | undefined) {
  return (errors ?? []).slice(0, 20).map((e) => {
    const base = `${where}${e.instancePath}`
    if (e.keyword === 'additionalProperties') return { path: `${base}/${String(e.params.additionalProperty)}`, message: 'unknown field' }
    if (e.keyword === 'required') return { path: `${base}/${String(e.params.missingProperty)}`, message: 'is required' }
    return { path: base || '/', message: e.message ?? 'is invalid' }
  })
}

function check(validate: ValidateFunction | undefined, value: unknown, where: string): void {
  if (!validate || validate(value)) return
  const errors = failures(where, validate.errors)
  throw GatewayErrors.validation(`request failed validation: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, { extensions: { errors } })
}

function mediaType(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined
  return header.split(';')[0]!.trim().toLowerCase()
}

function isJson(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

export function createValidateStage(options: ValidateOptions): Stage {
  return {
    name: 'validate',
    async run(req, ctx) {
      const route = ctx.route!
      check(route.validateParams, { ...ctx.params }, '/params')
      if (route.validateQuery) {
        const query: Record<string, string> = {}
        for (const [key, value] of new URLSearchParams(req.query)) {
          if (Object.hasOwn(query, key)) throw GatewayErrors.validation(`query parameter \`${key.slice(0, 64)}\` given more than once`)
          query[key] = value
        }
        check(route.validateQuery, query, '/query')
      }
      const body = req.body
      const hasBody = body !== undefined && body.length > 0
      const limit = route.maxBodyBytes ?? options.maxBodyBytes
      if (hasBody && body.length > limit) throw GatewayErrors.bodyTooLarge(`request body larger than ${limit} bytes`)
      if (!hasBody) {
        if (route.validateBody && ['POST', 'PUT', 'PATCH'].includes(req.method)) throw GatewayErrors.validation('request body is required')
        return
      }
      if (req.method === 'GET' || req.method === 'HEAD') throw GatewayErrors.badRequest(`${req.method} request must not carry a body`)
      const type = mediaType(req.headers['content-type'])
      if (!type) throw GatewayErrors.unsupportedMediaType('request body has no Content-Type')
      if (!route.contentTypes.includes('*') && !route.contentTypes.includes(type)) {
        throw GatewayErrors.unsupportedMediaType(`Content-Type \`${type.slice(0, 64)}\` not accepted; use ${route.contentTypes.map((t) => `\`${t}\``).join(', ')}`)
      }
      if (!isJson(type)) {
        if (route.validateBody) throw GatewayErrors.unsupportedMediaType('this route takes JSON')
        return
      }
      let text: string
      try {
        text = utf8.decode(body)
      } catch {
        throw GatewayErrors.invalidJson('request body is not UTF-8')
      }
      ctx.json = parseStrictJson(text, options.maxJsonDepth)
      check(route.validateBody, ctx.json, '/body')
    },
  }
}
