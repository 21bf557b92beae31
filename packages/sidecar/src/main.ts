// The sidecar process: `bulwark sidecar` (and the supervisor, for a component
// with `sidecar: {appPort}`) runs this file. It is the component: bootstrap
// over IPC, SVID, mTLS listener on the component's port, as every component.
import { runComponent } from '@bulwark/sdk/runtime'
import { createSidecar } from './sidecar.ts'
import { loadSidecarSettings } from './settings.ts'

/** Runs the sidecar of whichever component the bootstrap names. */
export function runSidecar(): Promise<void> {
  return runComponent({
    name: 'sidecar',
    async start(rt) {
      const sidecar = await createSidecar(rt, loadSidecarSettings(rt.config, rt.bootstrap.component))
      return { app: sidecar.app, close: sidecar.close }
    },
  })
}

// Forked as a file (the supervisor's fork(entry)) or imported by `bulwark sidecar`.
void runSidecar()
