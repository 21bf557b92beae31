// One route of the table: what it matches, where it goes, and what each stage
// of the pipeline demands of it.
import { Type, type Static } from '@sinclair/typebox'

const Method = Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m)))
const JsonSchema = Type.Record(Type.String(), Type.Unknown())

export const CorsSchema = Type.Object({
  origins: Type.Array(Type.String({ pattern: '^https?://[^/]+$' }), { minItems: 1 }),
  methods: Type.Optional(Type.Array(Method)),
  headers: Type.Array(Type.String({ pattern: '^[A-Za-z0-9-]+$' }), { default: ['authorization', 'content-type'] }),
  credentials: Type.Boolean({ default: false }),
  maxAgeSeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 600 }),
}, { additionalProperties: false })

export const RouteSchema = Type.Object({
  /** Stable name: metric label, audit `route`. */
  id: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
  /** `/api/orders/:id`; a final `*` matches one or more remaining segments, a final `**` zero or more. */
  path: Type.String({ pattern: '^/[A-Za-z0-9._~:@!$&\'()+,;=/*-]*$', maxLength: 256 }),
  methods: Type.Array(Method, { minItems: 1 }),
  /** Peer component name (e.g. `orders`). */
  upstream: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
  /** Removed from the front of the path before forwarding (e.g. `/api`). */
  stripPrefix: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$' })),
  /** Public routes skip authentication (and only authentication). */
  public: Type.Boolean({ default: false }),
  /** A token is verified when one is sent (a bad one is a 401); without one the caller is anonymous. */
  optionalAuth: Type.Boolean({ default: false }),
  /** Cedar action id (`Action::"<action>"`); absent means no policy decision for this route. */
  action: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
  scopes: Type.Array(Type.String(), { default: [] }),
  /** Any one of these roles. */
  roles: Type.Array(Type.String(), { default: [] }),
  query: Type.Optional(JsonSchema),
  params: Type.Optional(JsonSchema),
  body: Type.Optional(JsonSchema),
  /** Adds `additionalProperties: false` to every object schema of `body`/`query`. */
  refuseUnknownFields: Type.Boolean({ default: false }),
  /** Accepted request media types when a body is sent. `*` accepts any. */
  contentTypes: Type.Array(Type.String(), { default: ['application/json'] }),
  maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  rateLimit: Type.Optional(Type.Object({
    rate: Type.Number({ exclusiveMinimum: 0 }),
    burst: Type.Integer({ minimum: 1 }),
  }, { additionalProperties: false })),
  ipFilter: Type.Optional(Type.Object({
    allow: Type.Array(Type.String(), { default: [] }),
    deny: Type.Array(Type.String(), { default: [] }),
  }, { additionalProperties: false })),
  cors: Type.Optional(CorsSchema),
  /** Pass the caller's cookies (identity's session pages need them). */
  forwardCookies: Type.Boolean({ default: false }),
  /** Pass the caller's own Authorization header (only identity's endpoints: token, userinfo, introspection need it). */
  forwardAuthorization: Type.Boolean({ default: false }),
  /** Exchange the caller's token for one addressed to the upstream (never forward it). */
  translate: Type.Boolean({ default: true }),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
  /**
   * A gRPC method (`/<package.Service>/<Method>`, or `/<package.Service>/*` for every method): matched only for
   * HTTP/2 `application/grpc` requests, proxied to the upstream's `grpcUrl`, refusals as gRPC statuses (grpc/edge.ts).
   * `maxBodyBytes` then bounds each message (its length prefix).
   */
  grpc: Type.Boolean({ default: false }),
}, { additionalProperties: false })

export type RouteConfig = Static<typeof RouteSchema>
