// @bulwark/sdk/service: secure your own service in a few lines.
//   const app = await createSecureService(rt)  // mTLS + internal token + call policy on every route
//   app.get('/x/:id', { schema }, async (request) => { request.authorize('x.read', ref, entities); … })
//   await app.callService('payments', { method: 'POST', path: '/internal/charges', body, subjectToken: request.accessToken })
export { createSecureService, type SecureService, type SecureServiceOptions } from './secure-service.ts'
export { createServiceClient, type CallOptions, type CallResult, type ServiceClient } from './service-client.ts'
export { createTokenExchange, type TokenExchange, type TokenExchangeOptions } from './token-exchange.ts'
export { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from './token-verifier.ts'
export { createJwksResolver, type JwksOptions } from './jwks.ts'
export { createKeySet, KeysUnavailableError, type KeySet, type KeySetOptions } from './key-set.ts'
export { createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.ts'
export { createRevocationFeed, type RevocationFeed, type RevocationEntry } from './revocation-feed.ts'
export { createValidatorCompiler } from './validation.ts'
export { principalEntity, requestContext, actorOf as auditActor, ANONYMOUS } from './authorize.ts'
export { callEntities, checkCall, endpointId } from './peer-policy.ts'
export { ServiceErrors } from './errors.ts'
export { auditOutcome } from './audit-outcome.ts'
export { findRepeatedHeader, scanHeaders, sameAuthority } from './single-headers.ts'
export { entity, ref, type ActorChain, type AuthContext, type AuthorizeFn, type AuthorizeOptions, type Entity, type SecureRouteConfig } from './types.ts'
