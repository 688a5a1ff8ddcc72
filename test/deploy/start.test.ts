import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './manifests.js';

/** The Dockerfile's CMD (exec form) as an argv. */
function dockerCmd(): string[] {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const cmd = [...text.matchAll(/^CMD (\[.*\])$/gm)].at(-1)?.[1];
  return JSON.parse(cmd ?? 'null') as string[];
}

describe('how xent is started', () => {
  it('the Dockerfile CMD runs node with the same options as npm start (and the bench reads them from there)', () => {
    const start = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    expect(dockerCmd()).toEqual(start.split(/\s+/));
    expect(dockerCmd()).toEqual(['node', '--initial-old-space-size=64', 'dist/server.js']);
  });
});
