// One HTTP request over loopback with node:http, for readiness polling and the correctness checks.

import { request } from 'node:http';
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';

/** Sends one request; resolves to { status, body (string), ms }. Rejects on a socket error or after timeoutMs. */
export function httpRequest({ port, host = '127.0.0.1', method = 'GET', path, headers = {}, body, agent, timeoutMs = 30_000 }) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request({ host, port, method, path, headers: body ? { 'content-length': body.length, ...headers } : headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - start }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
