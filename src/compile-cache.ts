// Imported first by bin.ts, so it runs before the other modules load: Node (>= 22.1) keeps the
// compiled code of our modules and dependencies on disk (os.tmpdir()/node-compile-cache, or
// $NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off) and later starts skip compiling.
import module from 'node:module';

module.enableCompileCache?.();
