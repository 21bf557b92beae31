// @bulwark/sdk/policy: Cedar enforcement in-process.
//
//   createPolicyClient({url, dispatcher, log, metrics})  pulls the active set (ETag + long-poll)
//   createCedarAuthorizer({schema, policies})           a local Authorizer (tests, bootstrap)
//   createEnforcer({authorizer, audit}).authorize(principal, action, resource, context)
//   createShadowAuthorizer({active, candidate})          counts what a candidate would change
//   validatePolicyFiles(schema, files)                   Cedar's validator with file:line diagnostics
//
// @example
// const policy = createPolicyClient({ url: rt.peer('policy').url, dispatcher: rt.peer('policy').dispatcher, log, metrics })
// const enforcer = createEnforcer({ authorizer: policy, audit })
// enforcer.check(userEntity({ id: sub, roles }), 'orders.get', ownedEntity('Order', id, order.userId), requestContext({ authenticated: true }), { hide: true })
export { createCedarAuthorizer, type CedarAuthorizer, type CedarAuthorizerOptions } from './cedar-authorizer.ts'
export { createPolicyClient, type PolicyClient, type PolicyClientOptions, type PolicySetDocument } from './client.ts'
export { createEnforcer, type Enforcer, type EntityInput, type AuthorizeOptions } from './enforce.ts'
export { createShadowAuthorizer, type ShadowAuthorizer, type ShadowDifference } from './shadow.ts'
export { createDecisionRecorder, type DecisionRecord, type DecisionRecorder } from './decision-recorder.ts'
export { validatePolicyFiles, checkSchema, formatDiagnostics, type ValidationResult } from './validate.ts'
export { parsePolicyFiles, readPolicyPath, readPolicyPaths, policiesToText, type Diagnostic, type ParsedPolicies } from './policy-text.ts'
export { analyzePolicy, type PolicyFacts } from './analyze.ts'
export {
  ANONYMOUS, ref, entityRef, userEntity, clientEntity, workloadEntity, endpointEntity, ownedEntity,
  requestContext, callRequest, type CedarEntity, type RequestContextInput,
} from './entities.ts'
export { cedar } from './cedar.ts'
export { runPolicyCases, loadCaseFile, resolveEntities, casePolicyPaths, parseUid, type PolicyCase, type PolicyCaseFile, type CaseResult } from './cases.ts'
