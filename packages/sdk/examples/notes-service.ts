// "Secure your own service in 15 lines" (packages/sdk/README.md). Run by
// packages/sdk/test/service.example.test.ts.
import { runComponent, type ComponentRuntime } from '@bulwark/sdk/runtime'
import { createSecureService, entity, ref } from '@bulwark/sdk/service'

const notes = new Map([['n1', { id: 'n1', owner: 'alice', text: 'buy milk' }]])
const params = { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9]{1,32}$' } }, required: ['id'], additionalProperties: false }

export async function start(rt: ComponentRuntime) {
  const app = await createSecureService(rt) // mTLS peer + `call` policy + internal token on every route
  app.get<{ Params: { id: string } }>('/notes/:id', { schema: { params } }, async (request) => {
    const note = notes.get(request.params.id)
    request.authorize('notes.read', { type: 'Note', id: request.params.id }, // Cedar decides; others get 404
      { entities: note ? [entity('Note', note.id, { owner: ref('User', note.owner) })] : [], denyAs: 'not-found' })
    return note
  })
  return { app }
}
if (import.meta.main) void runComponent({ name: 'notes', start })
