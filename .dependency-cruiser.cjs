/**
 * The layers of docs/architecture.md as rules: arrows only point down, no cycles, and a folder is
 * entered through its index.ts.
 */
const leaves = '(chunker|crypto|compress|backend|clone|metrics|native)';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'leaves-import-no-layer',
      comment:
        'chunker, crypto, compress, backend, clone and metrics are leaves: they import no other layer but errors.ts',
      severity: 'error',
      from: { path: `^src/${leaves}/` },
      to: { path: '^src/(repo|cli|api|jobs|sources|verify|simulate|catalog|plugins|web)/' },
    },
    {
      name: 'leaves-independent',
      severity: 'error',
      from: { path: `^src/${leaves}/` },
      comment: 'leaves do not import each other, except the native addon, which is below them all',
      to: { path: `^src/${leaves}/`, pathNot: ['^src/$1/', '^src/native/'] },
    },
    {
      name: 'simulate-is-pure',
      comment: 'the simulator is pure: no clock, no I/O, nothing of Cairn but errors.ts',
      severity: 'error',
      from: { path: '^src/simulate/' },
      to: { path: '^src/', pathNot: ['^src/simulate/', '^src/errors\\.ts$'] },
    },
    {
      name: 'repo-below-front-ends',
      comment: 'repo/ knows nothing of jobs, HTTP, the CLI or the database',
      severity: 'error',
      from: { path: '^src/repo/' },
      to: { path: '^src/(cli|api|jobs|catalog|web|sources|verify|plugins)/' },
    },
    {
      name: 'plugins-drive-repo',
      comment:
        'plugins/ is the plugin host: it drives repo/ through its index.ts and knows nothing of the front ends',
      severity: 'error',
      from: { path: '^src/plugins/', pathNot: '\\.(test|testing)\\.ts$' },
      to: {
        path: '^src/',
        pathNot: ['^src/plugins/', '^src/repo/index\\.ts$', '^src/errors\\.ts$', '^src/version\\.ts$'],
      },
    },
    {
      name: 'only-through-index',
      comment: "another folder's internals are reached only through its index.ts",
      severity: 'error',
      from: { path: '^src/([^/]+)/', pathNot: '\\.(test|testing)\\.ts$' },
      to: { path: '^src/([^/]+)/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'no-test-code-in-product',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.(test|testing)\\.ts$' },
      to: { path: '\\.(test|testing)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '(^dist/|^node_modules/)' },
  },
};
