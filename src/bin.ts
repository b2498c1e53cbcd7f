#!/usr/bin/env node
// Entry point. It imports nothing of ours statically but compile-cache.js: Node compiles a whole
// static import graph before it runs any of it, so the cache must be on before main.js is imported.
import './compile-cache.js';

const { main } = await import('./main.js');
process.exitCode = await main(process.argv);
