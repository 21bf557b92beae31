// @bulwark/shop-users: profiles with personal data encrypted per user through
// vault transit, a blind index for email lookups, export and erasure by
// crypto-shredding.
import type { Authorizer } from '@bulwark/core'
import type { ComponentRuntime } from '@bulwark/sdk/runtime'
import { createSecureService, type SecureService } from '@bulwark/sdk/service'
import type { UsersConfig } from './config.ts'
import { createProfiles } from './profiles.ts'
import { createAccountDirectory } from './directory.ts'
import { registerUsersRoutes } from './routes.ts'
import { openUsersStore, type UsersStore } from './store.ts'
import { createTransit, type Transit } from './transit.ts'

export { UsersConfigSchema, type UsersConfig } from './config.ts'
export { UsersErrors } from './errors.ts'
export { userKeyName } from './store.ts'

export type UsersDeps = { rt: ComponentRuntime; authorizer?: Authorizer; transit?: Transit }
export type Users = { app: SecureService; store: UsersStore; close(): Promise<void> }

export async function createUsers(config: UsersConfig, deps: UsersDeps): Promise<Users> {
  const { rt } = deps
  const vault = deps.transit ? undefined : rt.peer('vault')
  const transit = deps.transit ?? createTransit({ url: vault!.url, dispatcher: vault!.dispatcher })
  const store = await openUsersStore({ sqlitePath: config.database ?? rt.paths.database('users'), storage: rt.bootstrap.storage })
  const app = await createSecureService(rt, { name: 'users', ...(deps.authorizer ? { authorizer: deps.authorizer } : {}) })
  const profiles = createProfiles({ store, transit, clock: rt.clock, emailIndexKey: config.emailIndexKey })
  registerUsersRoutes(app, {
    store, profiles, accounts: createAccountDirectory(app.callService), clock: rt.clock, audit: rt.audit, defaultPageSize: config.defaultPageSize, revokeTokensOnErase: config.revokeTokensOnErase,
  })
  return { app, store, close: async () => store.close() }
}
