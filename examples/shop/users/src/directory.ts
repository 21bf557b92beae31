// The accounts behind the admin's user directory. Identity owns the accounts
// (every user, whether or not it ever called this service); this service owns
// the profiles. Identity's `GET /admin/v1/accounts` (mTLS, svc/users may read
// it and nothing else of identity's admin API) answers id, username, roles,
// disabled and creation time; the routes merge in the profile fields.
import { ServiceErrors, type ServiceClient } from '@bulwark/sdk/service'
import { UsersErrors } from './errors.ts'

export type Account = { id: string; username: string; roles: string[]; disabled: boolean; createdAt: string }
type AccountPage = { items: Account[]; nextCursor: string | null }
const ACCOUNT_ID = /^[A-Za-z0-9-]{1,64}$/

export type AccountDirectory = {
  /** One page of every account, by username; `cursor` is identity's, passed through unchanged. */
  page(limit: number, cursor: string | undefined, requestId: string): Promise<AccountPage>
  /** The accounts among `ids` (at most 100), by id. */
  byIds(ids: readonly string[], requestId: string): Promise<Map<string, Account>>
}

export function createAccountDirectory(call: ServiceClient['callService']): AccountDirectory {
  async function fetchPage(query: Record<string, string | number | undefined>, requestId: string): Promise<AccountPage> {
    const res = await call<AccountPage & { code?: string }>('identity', { path: '/admin/v1/accounts', query, requestId })
    if (res.status === 400 && res.body?.code === 'BW_IDENTITY_BAD_CURSOR') throw UsersErrors.badCursor()
    // Fail closed: an account list we could not read is an error, never an empty directory.
    if (res.status !== 200 || !Array.isArray(res.body?.items)) throw ServiceErrors.upstreamFailed(`identity answered ${res.status} for the account list`)
    return res.body
  }
  return {
    page: (limit, cursor, requestId) => fetchPage({ limit, cursor }, requestId),
    async byIds(ids, requestId) {
      // Account ids are UUIDs: a profile of any other subject (a client) has no account to look up.
      const wanted = ids.filter((id) => ACCOUNT_ID.test(id))
      if (wanted.length === 0) return new Map()
      const page = await fetchPage({ ids: wanted.join(','), limit: 100 }, requestId)
      return new Map(page.items.map((a) => [a.id, a]))
    },
  }
}
