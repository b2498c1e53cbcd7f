// Imported first by bin.ts, which imports the rest of the CLI only after this has run: Node (>= 22.1)
// keeps the compiled code of our modules and dependencies on disk (os.tmpdir()/node-compile-cache, or
// $NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off) and later starts skip compiling.
// A module compiled before this call is not cached, and ES modules are compiled when they are
// imported, before any of them runs: a static import of our modules from bin.ts would miss it.
import module from 'node:module';

module.enableCompileCache?.();
