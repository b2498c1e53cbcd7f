// The stack of an internal error, as main.ts prints it: a frame in a chunk of the bundled CLI
// (dist/cli/, scripts/bundle-cli.mjs) names instead the line of the dist/ module it came from, read
// from the chunk's source map. Done here, on that path only: Node's own source map support reads a
// module's map when it loads the module, so switching it on once the error is caught maps nothing,
// and switching it on at start (--enable-source-maps) cost every `render` about 40 ms.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

const HERE = new URL('./', import.meta.url).href; // dist/cli/ in the bundle (dist/ or src/ have no maps)

export function unbundledStack(stack: string): string {
  const maps = new Map<string, SourceMap | undefined>();
  return stack.replace(/(file:\/\/[^\s()]+?):(\d+):(\d+)/g, (frame, url: string, line: string, column: string) => {
    if (!url.startsWith(HERE)) return frame;
    if (!maps.has(url)) maps.set(url, readMap(url));
    const origin = maps.get(url)?.findOrigin(Number(line), Number(column));
    return origin && 'fileName' in origin ? `${new URL(origin.fileName, url).href}:${origin.lineNumber}:${origin.columnNumber}` : frame;
  });
}

function readMap(chunk: string): SourceMap | undefined {
  try {
    return new SourceMap(JSON.parse(readFileSync(new URL(`${chunk}.map`), 'utf8')));
  } catch {
    return undefined; // no map beside it (or not one we can read): the frame stays as it is
  }
}
