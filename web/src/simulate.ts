/**
 * The restore point simulator's engine (src/simulate/: pure TypeScript, no Node imports), shared
 * by the CLI, the API and the web page, which runs its share-string parsers in the browser.
 */
// The lint rule reads `../../src/simulate/index.ts` as another folder's internals; it is that
// folder's index, its public face.
// eslint-disable-next-line no-restricted-imports
export * from '../../src/simulate/index.ts';
