// @bulwark/gateway: the edge. Public surface only.
export { createGateway, type Gateway, type GatewayDeps } from './server.ts'
export { GatewayConfigSchema, type GatewayConfig } from './config.ts'
export { RouteSchema, type RouteConfig } from './route-schema.ts'
export { DEFAULT_ROUTES } from './default-routes.ts'
export { compileRoutes, type RouteTable, type CompiledRoute } from './routes.ts'
export { GatewayErrors } from './errors.ts'
export { createMemoryRateLimitStore, type RateLimitStore, type RateLimitRule, type RateLimitResult } from './rate-limit-store.ts'
export type { Stage, GatewayRequest, RequestContext, Principal } from './pipeline/types.ts'
