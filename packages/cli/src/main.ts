// Executable entry of the `bulwark` command (`npm run bulwark -- …`, `npm start`).
import { enableCompileCache } from 'node:module'

// Cache compiled modules (in the OS temp dir) so repeated CLI calls start fast.
enableCompileCache()
const { main } = await import('./dispatch.ts')
process.exitCode = await main(process.argv.slice(2))
