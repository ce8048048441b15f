#!/usr/bin/env node
// Package boundaries: every workspace package (packages/*, examples/*, bench, soak) may import another
// workspace package only through that package's `exports` map (`@stevedore/kernel`, `@stevedore/testkit/conformance`),
// never a deep path (`@stevedore/kernel/src/...`, `@stevedore/kernel/dist/...`), and may not reach into another
// package with a relative path. Prints `file:line: problem` for each offence and exits 1; run by `pnpm test`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dirs = [
  ...['packages', 'examples'].flatMap((d) =>
    existsSync(join(root, d)) ? readdirSync(join(root, d)).map((p) => join(root, d, p)) : [],
  ),
  join(root, 'bench'),
  join(root, 'soak'),
].filter((d) => existsSync(join(d, 'package.json')));

/** name → { dir, subpaths } */
const packages = new Map();
for (const dir of dirs) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const exp = pkg.exports;
  const subpaths =
    exp === undefined
      ? ['.']
      : typeof exp === 'string'
        ? ['.']
        : Object.keys(exp).filter((k) => k.startsWith('.'));
  packages.set(pkg.name, { dir, subpaths: new Set(subpaths) });
}

function* sources(dir) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'generated') continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (/\.(ts|mts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) yield p;
  }
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
const problems = [];
for (const dir of dirs) {
  const src = join(dir, 'src');
  if (!existsSync(src)) continue;
  for (const file of sources(src)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const m of line.matchAll(IMPORT)) {
        const spec = m[1];
        const where = `${relative(root, file)}:${i + 1}`;
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (!(target + sep).startsWith(dir + sep) && target !== dir)
            problems.push(
              `${where}: relative import '${spec}' reaches outside its package; import the package by name`,
            );
          continue;
        }
        const parts = spec.split('/');
        const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
        const target = packages.get(name);
        if (!target) continue; // not a workspace package
        const sub = spec.slice(name.length);
        const key = sub === '' ? '.' : `.${sub}`;
        if (!target.subpaths.has(key))
          problems.push(
            `${where}: '${spec}' is not in ${name}'s exports (${[...target.subpaths].join(', ')}): use its public entry points`,
          );
      }
    });
  }
}
if (problems.length > 0) {
  console.error(`Package boundaries: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`Package boundaries: ${packages.size} packages, no deep imports.`);
