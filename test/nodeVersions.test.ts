/**
 * The supported Node versions, said once: package.json's `engines`, the README, the Docker image's base and the pin CI
 * tests the image's Node at all agree, and the process warns on an end-of-life or unsupported Node.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeNotice, SUPPORTED_NODE, supportsNode } from '../src/startup.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('supported Node versions', () => {
  it('engines, the README, the Dockerfile and the image pin say the same', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(SUPPORTED_NODE);
    expect(read('README.md')).toContain(`\`${SUPPORTED_NODE}\``);
    const bases = [...read('Dockerfile').matchAll(/^FROM node:(\d+)-/gm)].map((m) => m[1]);
    expect(bases.length).toBeGreaterThan(0);
    for (const major of bases) expect(supportsNode(`v${major}.0.0`)).toBe(true);
    const pin = /NODE_VERSION:-(\d+\.\d+\.\d+)/.exec(read('scripts/docker/base-image.sh'))![1]!;
    expect(supportsNode(pin)).toBe(true);
    expect(pin.split('.')[0]).toBe(bases[0]);
  });

  it.each([
    ['v20.19.0', true],
    ['v20.20.0', true],
    ['v20.18.3', false],
    ['v21.7.3', false],
    ['v22.11.0', false],
    ['v22.12.0', true],
    ['v23.11.1', false],
    ['v24.0.0', true],
    ['v25.2.1', true],
    ['v18.20.8', false],
  ])('%s supported: %s', (version, supported) => {
    expect(supportsNode(version)).toBe(supported);
  });

  it('the start-up notice: Node 20 is end of life, others outside the range unsupported, current ones say nothing', () => {
    expect(nodeNotice('v20.20.0')).toMatch(/^Node 20 reached its end of life in April 2026/);
    expect(nodeNotice('v22.11.0')).toMatch(/^Node v22\.11\.0 is not supported \(\^20\.19\.0 \|\| \^22\.12\.0 \|\| >=24\.0\.0\)/);
    expect(nodeNotice('v22.12.0')).toBeNull();
    expect(nodeNotice('v24.11.1')).toBeNull();
  });
});
