import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('BODY_LIMIT - a byte count with or without a unit (powers of 1024)', () => {
  it.each([
    ['67108864', 67108864],
    ['100mb', 100 * 1024 ** 2],
    ['100MB', 100 * 1024 ** 2],
    ['64 MiB', 64 * 1024 ** 2],
    ['1.5gb', 1.5 * 1024 ** 3],
    ['512kb', 512 * 1024],
    ['2048b', 2048],
    ['1e9', 1e9],
  ])('%s - %i bytes', (value, bytes) => {
    expect(loadConfig({ BODY_LIMIT: value }).bodyLimit).toBe(bytes);
  });

  it.each(['100 megabytes', 'mb', '-1mb', '-5', '12 tb', '1.5'])('%s - a ConfigError naming BODY_LIMIT', (value) => {
    expect(() => loadConfig({ BODY_LIMIT: value })).toThrow(ConfigError);
    expect(() => loadConfig({ BODY_LIMIT: value })).toThrow(/BODY_LIMIT=/);
  });

  it('below 1 KiB - refused as before', () => {
    expect(() => loadConfig({ BODY_LIMIT: '512' })).toThrow(/BODY_LIMIT=.*at least 1024/);
  });
});
