"""Runs app.py as `uvicorn app:app --workers N` does, except that each worker listens on its own SO_REUSEPORT socket.

With `uvicorn --workers N` the workers share one listening socket, and the worker whose event loop wakes first
accepts every connection waiting: when a client opens its connections at once, as autocannon does, most or all of
them land on one worker (the bench measured splits of 15+1, 16+0 and 10+0) and the peer runs on one core. With a
socket per worker the kernel spreads connections over the workers by hash, as a load balancer in front of N
single-worker replicas would, so the peer uses the cores it is given. Everything else is uvicorn's own Server.

    python3 serve.py --host 127.0.0.1 --port 3003 --workers 2
"""

import argparse
import multiprocessing
import signal
import socket

import uvicorn


def serve(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    uvicorn.Server(uvicorn.Config("app:app", access_log=False, log_level="warning")).run(sockets=[sock])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3003)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    workers = [multiprocessing.get_context("spawn").Process(target=serve, args=(args.host, args.port)) for _ in range(args.workers)]
    for w in workers:
        w.start()

    def stop(_signum, _frame):
        for w in workers:
            w.terminate()  # SIGTERM: uvicorn's graceful shutdown

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for w in workers:
        w.join()


if __name__ == "__main__":
    main()
