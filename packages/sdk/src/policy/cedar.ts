// The one place the sdk loads Cedar. Everything policy-related evaluates with
// Cedar's own engine (wasm); nothing here interprets policies itself.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs'

export { cedar }
export type {
  DetailedError, EntityJson, PolicyJson, Schema, SchemaJson, AuthorizationAnswer, ValidationAnswer, Expr,
} from '@cedar-policy/cedar-wasm/nodejs'
