import { readFileSync } from 'node:fs';

/**
 * The service's version, from package.json (one directory above both `src/` and `dist/`, and beside `dist/` in the
 * image): the one place it is written.
 */
export const SERVICE_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
