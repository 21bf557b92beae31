// The sdk's service layer. Switch to `export * from '@bulwark/sdk/service'`
// once packages/sdk/package.json exports "./service" (until then the path).
export * from '../../../../packages/sdk/src/service/index.ts'
