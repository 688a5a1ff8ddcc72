import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SERVER } from './process.js';

/** Runs the compiled server to its exit and returns its code and everything it wrote. */
async function runToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SERVER], { env: { ...process.env, HOST: '127.0.0.1', WORKERS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('start-up failures - one readable line, exit 1', () => {
  it('a port already in use - one line naming the port and PORT, no stack trace, exit 1', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as { port: number };
    try {
      const { code, stdout, stderr } = await runToExit({ PORT: String(port) });
      expect(code).toBe(1);
      const lines = (stdout + stderr).trim().split('\n');
      expect(lines, stdout + stderr).toHaveLength(1);
      expect(lines[0]).toContain(String(port));
      expect(lines[0]).toContain('PORT');
      expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+/);
    } finally {
      blocker.close();
    }
  }, 30_000);
});
