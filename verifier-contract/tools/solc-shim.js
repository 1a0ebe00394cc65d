#!/usr/bin/env node
// A `solc` executable for forge (`forge build --use ./tools/solc-shim.js`) backed by the solc-js
// (WebAssembly) compiler pinned in package.json, so that nothing is downloaded but npm packages.
//
// forge calls it in two ways:
//   solc-shim.js --version          -> prints "Version: <solc.version()>" (forge parses the last line)
//   solc-shim.js --standard-json .. -> reads a standard-JSON input on stdin, writes the output
// Other arguments (--allow-paths, --base-path, --include-path) are ignored: forge puts every source's
// content in the input; the import callback below is only a fallback for a missing one, and
// resolves a path against the project, then node_modules, never outside them.
'use strict';

const fs = require('fs');
const path = require('path');

const project = path.resolve(__dirname, '..');
const solc = require(path.join(project, 'node_modules', 'solc'));

const args = process.argv.slice(2);

if (args.includes('--version') || args.includes('-v')) {
  process.stdout.write('solc-js shim for forge\nVersion: ' + solc.version() + '\n');
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('solc-shim.js: only --version and --standard-json are supported\n');
  process.exit(2);
}

function within(root, file) {
  const rel = path.relative(root, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function findImport(importPath) {
  const roots = [project, path.join(project, 'node_modules')];
  for (const root of roots) {
    const file = path.resolve(root, importPath);
    if (within(project, file) && fs.existsSync(file)) {
      return { contents: fs.readFileSync(file, 'utf8') };
    }
  }
  return { error: 'File not found inside the project or node_modules: ' + importPath };
}

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  const output = solc.compile(input, { import: findImport });
  process.stdout.write(output);
});
