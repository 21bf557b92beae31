// A sidecar'd service's section of config.json (`components.<name>`): the
// frame (`port`, `command`, `cwd`, `env`, `replicas`) belongs to the platform
// config and the supervisor; the sidecar reads `sidecar` and checks it strictly.
import { Type, type Static } from '@sinclair/typebox'

const Port = Type.Integer({ minimum: 1, maximum: 65535 })
const JsonSchema = Type.Record(Type.String(), Type.Unknown())
const Method = Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m)))

/** One route the app serves. Declared routes are the only ones forwarded; see docs/sidecar.md. */
export const SidecarRouteSchema = Type.Object({
  methods: Type.Array(Method, { minItems: 1 }),
  /** Fastify pattern: `/notes`, `/notes/:id`, `/files/*`. */
  path: Type.String({ pattern: '^/[A-Za-z0-9._~:@!$&\'()+,;=/*-]*$', maxLength: 256 }),
  /** Cedar action decided on every request (`Action::"<action>"` on `Endpoint::"<service>:<METHOD> <path>"`). */
  action: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
  /** `required` (default): an internal token; `optional`: anonymous callers pass when they send none. */
  auth: Type.Union([Type.Literal('required'), Type.Literal('optional')], { default: 'required' }),
  /** JSON Schemas checked before the app sees the request (bodies are then forwarded as validated JSON). */
  schema: Type.Optional(Type.Object({
    body: Type.Optional(JsonSchema),
    query: Type.Optional(JsonSchema),
    params: Type.Optional(JsonSchema),
  }, { additionalProperties: false })),
}, { additionalProperties: false })

export const SidecarSettingsSchema = Type.Object({
  /** The app listens on 127.0.0.1:appPort, plain HTTP, reachable only from this machine. */
  appPort: Port,
  /** Loopback port where the app calls other services (`http://127.0.0.1:<egressPort>/<service>/<path>`); absent: no egress. */
  egressPort: Type.Optional(Port),
  /** Absent: every path and method is forwarded (one route `/*`); present: only these. */
  routes: Type.Optional(Type.Array(SidecarRouteSchema, { minItems: 1, maxItems: 256 })),
  /** Largest request body forwarded to the app (and out through egress). */
  maxBodyBytes: Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024, default: 1024 * 1024 }),
  /** Largest answer body passed back from the app (and from an egress target). */
  maxResponseBytes: Type.Integer({ minimum: 0, maximum: 256 * 1024 * 1024, default: 8 * 1024 * 1024 }),
  /** Time for the app to answer (headers) and between two chunks of its body. */
  timeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
}, { additionalProperties: false })

export const SidecarComponentSchema = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  sidecar: SidecarSettingsSchema,
}, { additionalProperties: true })

export type SidecarRoute = Static<typeof SidecarRouteSchema>
export type SidecarSettings = Static<typeof SidecarSettingsSchema>
export type SidecarComponentConfig = Static<typeof SidecarComponentSchema>
