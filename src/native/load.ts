// Loads a compiled addon from native/build/Release, from both src/ (tests) and dist/ (installed).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('ftcp: cannot find the package root (package.json)');
    dir = parent;
  }
  return dir;
}

export function loadAddon<T>(name: string): T {
  const path = join(packageRoot(), 'native', 'build', 'Release', `${name}.node`);
  if (!existsSync(path)) {
    throw new Error(`ftcp: native addon ${name} is not built (${path}); run \`make build\``);
  }
  return require(path) as T;
}
