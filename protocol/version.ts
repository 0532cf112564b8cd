// The package's name and version, for User-Agent, /health and --version.
import { readFileSync } from 'node:fs';

// ../ from the sources, ../../ from the compiled build in dist/.
function readPackage(): { name: string; version: string } {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      return JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name: string; version: string };
    } catch {
      // try the next
    }
  }
  throw new Error('package.json not found');
}

const pkg = readPackage();

export const NAME: string = pkg.name;
export const VERSION: string = pkg.version;
