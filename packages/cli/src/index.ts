// @bulwark/cli: the operator command. Its modules are used by tests as well.
export { main } from './dispatch.ts'
export { createCliContext, CliError, type CliContext } from './context.ts'
