// A secret as the client hands it out: metadata enumerable, `data` not, so an
// accidental log line or JSON dump of the object leaves the value out.
/** A secret version. `data` is not enumerable: logging or JSON-serialising the object does not print it. */
export type Secret = { path: string; version: number; createdAt: string; createdBy: string; readonly data: Record<string, unknown> }

export function toSecret(body: { path: string; version: number; createdAt: string; createdBy: string; data: Record<string, unknown> }): Secret {
  const secret = { path: body.path, version: body.version, createdAt: body.createdAt, createdBy: body.createdBy } as Secret
  Object.defineProperty(secret, 'data', { value: Object.freeze({ ...body.data }), enumerable: false })
  return secret
}
