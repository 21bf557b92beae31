// The one rule this shop needs beyond packages/policy/policies/*.cedar
// (reported to the lead for segmentation.cedar): orders reads prices from the catalog.
export const ORDERS_READS_CATALOG = `
@id("seg-orders-to-catalog-read")
permit (principal is Service, action == Action::"call", resource is Endpoint)
when { principal.name == "orders" && resource.service == "catalog" && resource.method == "GET" };
`
