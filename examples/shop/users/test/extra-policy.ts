// A rule proposed for packages/policy/policies/platform.cedar (reported to the
// lead): lets the users service ask identity to revoke a subject's tokens
// when that user erases their account. Identity's admin route must also
// accept `svc/users` for it (today it is operator-only).
export const USERS_REVOKE_ON_ERASE = `
@id("platform-users-revoke-on-erase")
permit (principal is Service, action == Action::"call", resource is Endpoint)
when {
  principal.name == "users" && resource.service == "identity" &&
  resource.method == "POST" && resource.route like "/admin/v1/subjects/*/revoke"
};
`
