// Executable entry of the `bulwark` command (`npm run bulwark -- …`, `npm start`).
import { main } from './dispatch.ts'

process.exitCode = await main(process.argv.slice(2))
