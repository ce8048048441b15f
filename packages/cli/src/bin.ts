#!/usr/bin/env node
import { applyHeapSettings } from './heap.js';

// Before the CLI loads, so that no allocation happens under V8's defaults (see heap.ts).
applyHeapSettings();
const { runCli } = await import('./main.js');

const ac = new AbortController();
let signals = 0;
const onSignal = (name: string) => {
  signals += 1;
  if (signals > 1) {
    console.error(`Received ${name} again; exiting now.`);
    process.exit(130);
  }
  console.error(
    `Received ${name}; stopping the worker (in-flight submissions finish first; press Ctrl+C again to exit now).`,
  );
  ac.abort(new Error(`received ${name}`));
};
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));

const code = await runCli(process.argv.slice(2), {
  out: (l) => console.log(l),
  err: (l) => console.error(l),
  env: process.env,
  cwd:
    process.env.INIT_CWD && process.env.npm_lifecycle_event === 'start'
      ? process.env.INIT_CWD
      : process.cwd(),
  signal: ac.signal,
  log: (l) => process.stderr.write(`${l}\n`),
  logIsTTY: process.stderr.isTTY,
});
process.exitCode = code;
