#!/usr/bin/env python3
"""A threaded HTTP proxy in front of moto that adds a fixed delay to every request and logs each one.

Why: moto answers in about a millisecond, so a refresh that reads sequentially looks as fast as one that reads
concurrently. With 50 ms per request the plan time shows how many round trips are chained. Each request is
appended to --log as one JSON line (start/end monotonic seconds, service, action) so that bench.py can count
the calls and compute the longest chain of round trips that were actually serialized.

With --max-inflight N, at most N requests are at moto at once (the others wait in the proxy): at 1, each
request's `upstream` time is moto's own work for it, with no other request of ours competing for its
interpreter lock.

Usage: latency_proxy.py --listen PORT --upstream http://127.0.0.1:MOTO --delay-ms 50 --log FILE [--max-inflight N]
"""
import argparse
import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
CRED = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--max-inflight", type=int, default=0, help="at most this many requests at moto at once (0: any)")
    args = ap.parse_args()
    up = urllib.parse.urlparse(args.upstream)
    delay = args.delay_ms / 1000.0
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1)
    local = threading.local()
    gate = threading.BoundedSemaphore(args.max_inflight) if args.max_inflight else None

    def upstream():
        # One keep-alive connection per handler thread: the client's connection maps onto ours.
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        return local.conn

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet: the JSON log is what counts
            pass

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self):
            start = time.monotonic()
            data = self.body()
            auth = self.headers.get("Authorization", "")
            m = CRED.search(auth)
            service = m.group(1) if m else "?"
            action = self.headers.get("X-Amz-Target", "")
            if not action and data[:7] == b"Action=":
                action = urllib.parse.parse_qs(data.decode(errors="replace")).get("Action", [""])[0]
            if not action:
                action = self.command + " " + self.path.split("?")[0] + ("?" + self.path.split("?")[1][:40] if "?" in self.path else "")
            time.sleep(delay)  # the injected latency, before moto sees the request
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Content-Length"] = str(len(data))
            if gate:
                gate.acquire()
            try:
                sent = time.monotonic()
                for attempt in range(2):
                    try:
                        conn = upstream()
                        conn.request(self.command, self.path, body=data, headers=headers)
                        resp = conn.getresponse()
                        payload = resp.read()
                        break
                    except (http.client.HTTPException, OSError):
                        local.conn = None
                        if attempt:
                            raise
                answered = time.monotonic()
            finally:
                if gate:
                    gate.release()
            # The whole response in one write: headers and body in two would meet the client's delayed ACK under
            # Nagle's algorithm, 40 ms per request that are the proxy's, not the endpoint's.
            head = ["HTTP/1.1 %d %s" % (resp.status, resp.reason)]
            head += ["%s: %s" % (k, v) for k, v in resp.getheaders()
                     if k.lower() not in HOP and k.lower() != "content-length"]
            head.append("Content-Length: %d" % len(payload))
            out = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            self.wfile.write(out + (payload if self.command != "HEAD" else b""))
            self.wfile.flush()
            end = time.monotonic()
            with lock:
                log.write(json.dumps({"start": start, "end": end, "service": service, "action": action,
                                      "status": resp.status, "upstream": answered - sent}) + "\n")

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    ThreadingHTTPServer(("127.0.0.1", args.listen), Handler).serve_forever()


if __name__ == "__main__":
    main()
