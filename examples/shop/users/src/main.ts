// The users process: `bulwark up` forks this file.
import { loadConfig } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { UsersConfigSchema, createUsers } from './index.ts'

void runComponent({
  name: 'users',
  async start(rt) {
    const users = await createUsers(loadConfig(UsersConfigSchema, { value: rt.config, source: 'users' }), { rt })
    return { app: users.app, close: users.close }
  },
})
