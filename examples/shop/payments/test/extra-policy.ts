// A rule proposed for packages/policy/policies/segmentation.cedar (reported
// to the lead): the default set lets the gateway `call` every payments route,
// including `/internal/*`; only orders should reach those.
export const INTERNAL_ONLY_FROM_ORDERS = `
@id("seg-payments-internal-only-orders")
forbid (principal is Service, action == Action::"call", resource is Endpoint)
when { resource.service == "payments" && resource.route like "/internal/*" && principal.name != "orders" };
`
