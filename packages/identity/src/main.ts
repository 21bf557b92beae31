// Process entry: `bulwark up` forks this file; the runtime bootstraps the
// SVID, listens with mTLS and handles shutdown.
import { runComponent } from '@bulwark/sdk/runtime'
import { startIdentity } from './start.ts'

await runComponent({ name: 'identity', start: startIdentity })
