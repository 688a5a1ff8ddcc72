import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** After an answer that closes the connection, the rest of an upload is read and discarded for at most this long... */
export const LINGER_MS = 10_000;
/**
 * ...and at most this many bytes; then the connection is closed anyway. Generous, because clients do not look at the
 * answer while they upload as promptly as one would hope: undici (fetch) on a busy machine was seen to send another
 * 45 MB after a 413 before reading it. Reading and discarding costs the event loop no more than moving the bytes.
 */
export const LINGER_BYTES = 256 * 1024 * 1024;
/** Once the service is shutting down, lingering sockets get at most this long, so they do not hold up the exit. */
export const LINGER_WHILE_CLOSING_MS = 1000;

/**
 * Lingering close. When an error is answered before the request body has arrived (413 for a body over BODY_LIMIT, or
 * any answer that closes the connection: a request on a closing server, a request without Host), Node would send the
 * answer and destroy the socket at once while the client is still uploading: the client's next bytes meet a closed
 * socket, the kernel answers them with a reset, and a reset discards what the client had not read yet, our answer
 * included (undici: "fetch failed", EPIPE or ECONNRESET instead of the 413).
 *
 * So, as web servers with lingering close do: the body is not processed (the handler never runs), the answer goes out
 * with `Connection: close`, the sending side is shut (FIN after the answer), and the rest of the upload is read and
 * discarded until it ends, for at most LINGER_MS and LINGER_BYTES; only then is the socket closed. A client that reads
 * while it sends has the whole answer by then; one that sends its whole body before reading gets it too when the
 * body ends within the bounds. An answer that keeps the connection open (401, 429, 415...) reads the rest of the body
 * as Node always does (within REQUEST_TIMEOUT_MS).
 *
 * Registered as an `onError` hook, so it costs nothing on requests that succeed.
 */
export function registerLingeringClose(app: FastifyInstance): void {
  const lingering = new Set<{ socket: Socket; timer: NodeJS.Timeout }>();
  let closing = false;

  app.addHook('onError', (request: FastifyRequest, _reply: FastifyReply, _error: FastifyError, done: HookHandlerDoneFunction) => {
    if (request.raw.complete === false) lingerIfClosed(request.raw);
    done();
  });
  app.addHook('preClose', (done) => {
    closing = true;
    for (const entry of lingering) {
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => entry.socket.destroy(), LINGER_WHILE_CLOSING_MS);
    }
    done();
  });

  /**
   * Reads and discards the rest of `req`'s body from now on (what Node's own dump does once the answer is sent), and,
   * if Node closes the connection after the answer (socket.destroySoon, called when the response says Connection:
   * close), shuts the sending side only and closes the socket when the body ends or a bound is reached.
   */
  function lingerIfClosed(req: IncomingMessage): void {
    const socket = req.socket as Socket | null;
    if (!(socket instanceof Socket) || socket.destroyed || Object.hasOwn(socket, 'destroySoon')) return;
    let entry: { socket: Socket; timer: NodeJS.Timeout } | null = null;
    let drained = 0;
    const discard = (chunk: Buffer) => {
      if (entry !== null && (drained += chunk.length) > LINGER_BYTES) socket.destroy();
    };
    const restore = () => {
      delete (socket as Partial<Socket>).destroySoon;
    };
    req.on('data', discard);
    req.once('end', () => {
      restore();
      // The whole body has been read: nothing left for a reset to discard, so the socket closes as Node would close it.
      if (entry !== null) socket.destroySoon();
    });
    socket.once('close', () => {
      req.off('data', discard);
      if (entry === null) return;
      clearTimeout(entry.timer);
      lingering.delete(entry);
    });
    socket.destroySoon = function lingeringClose(this: Socket) {
      restore();
      if (req.complete) {
        this.destroySoon();
        return;
      }
      this.end(); // FIN once the answer is written; the client reads the answer, then the end of the stream
      entry = { socket: this, timer: setTimeout(() => this.destroy(), closing ? LINGER_WHILE_CLOSING_MS : LINGER_MS) };
      lingering.add(entry);
    };
  }
}
