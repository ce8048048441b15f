#!/usr/bin/env node
// Copies the Prefect OpenAPI documents from the repository's reference/ into this package's reference/, so a
// deployed or published testkit (the sandbox in the worker image) finds them next to its dist/. Run by build and
// prepack.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(pkg, 'reference'), { recursive: true });
for (const f of ['prefect-openapi.json', 'prefect-2.12-openapi.json'])
  copyFileSync(join(pkg, '..', '..', 'reference', f), join(pkg, 'reference', f));
