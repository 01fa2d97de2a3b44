// Import boundaries from ARCHITECTURE.md: each module may import only the modules listed here,
// and only through their index.ts. `npm run depcheck` (part of `npm test`) fails on a violation.
const library = ['core', 'oci', 'layout', 'registry', 'debian', 'runtime', 'build', 'gates', 'security', 'publish', 'pipeline'];
const allowed = {
  core: [],
  oci: ['core'],
  layout: ['core', 'oci'],
  registry: ['core', 'oci'],
  debian: ['core'],
  runtime: ['core'],
  build: ['core', 'oci', 'layout', 'debian', 'runtime'],
  gates: ['core', 'oci', 'layout', 'runtime'],
  security: ['core', 'oci', 'layout', 'debian'],
  publish: ['core', 'oci', 'layout', 'registry', 'security'],
  pipeline: library.filter((m) => m !== 'pipeline'),
  server: library,
  cli: library,
};

const forbidden = [
  {
    name: 'only-through-index',
    comment: 'Another module is imported only through its index.ts.',
    severity: 'error',
    from: { path: '^src/([^/]+)/' },
    to: { path: '^src/[^/]+/.+', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
  },
  {
    name: 'no-circular',
    severity: 'error',
    from: {},
    to: { circular: true },
  },
  {
    name: 'not-to-unresolvable',
    severity: 'error',
    from: {},
    to: { couldNotResolve: true },
  },
];
for (const [mod, deps] of Object.entries(allowed)) {
  const ok = [mod, ...deps].join('|');
  forbidden.push({
    name: `boundary-${mod}`,
    comment: `${mod} may import only: ${deps.join(', ') || 'nothing'}`,
    severity: 'error',
    from: { path: `^src/${mod}/` },
    to: { path: '^src/[^/]+/', pathNot: `^src/(${ok})/` },
  });
}

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)testdata/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
