// JSON Schema validation for routes, stricter than Fastify's defaults:
// bodies are never coerced and unknown fields are errors, not silently
// dropped (`removeAdditional: false`), so `additionalProperties: false` is
// mass-assignment protection (OWASP API3:2023). Query strings and path
// parameters are text on the wire, so they alone are coerced to the declared types.
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = addFormats(new Ajv({ allErrors: true, removeAdditional: false, useDefaults: true, coerceTypes: false, strict: false }))
  const coercing = addFormats(new Ajv({ allErrors: true, removeAdditional: false, useDefaults: true, coerceTypes: true, strict: false }))
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>
  }
}
