"""A minimal Lambda Runtime API (2018-06-01) served from a thread of bench.py, for timing functions the way
Lambda runs them: cold start = process spawn until its first `GET .../invocation/next`, run time = the event
handed out until `POST .../invocation/{id}/response` (or `/error`). See tests/src/runtime_api.rs for the
fixture the test suite uses; this one only adds timestamps.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    def __init__(self):
        self.cond = threading.Condition()
        self.events = []          # queued (request_id, payload)
        self.first_next = None    # monotonic time of the first GET next since reset()
        self.handed_out = {}      # request_id -> monotonic time the event was handed out
        self.answers = {}         # request_id -> (monotonic time, kind, body)
        self.generation = 0       # bumped by reset(): one per measured process
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if not self.path.startswith(PREFIX + "/invocation/next"):
                    return self.reply(404, b"{}")
                now = time.monotonic()
                with api.cond:
                    gen = api.generation
                    if api.first_next is None:
                        api.first_next = now
                        api.cond.notify_all()
                    # Long-poll like Lambda: a function with no work waits here until it is killed.
                    # A poll left by a process killed in an earlier measurement (older generation) must not
                    # take the next measurement's event.
                    while not api.events or gen != api.generation:
                        if gen != api.generation or not api.cond.wait(timeout=600):
                            return
                    rid, payload = api.events.pop(0)
                    api.handed_out[rid] = time.monotonic()
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:rdsbackup-bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation":
                    with api.cond:
                        api.answers[parts[1]] = (time.monotonic(), parts[2], body)
                        api.cond.notify_all()
                self.reply(202, b'{"status":"OK"}')

            def reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ThreadingHTTPServer.daemon_threads = True
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        with self.cond:
            self.first_next = None
            self.generation += 1
            self.cond.notify_all()

    def wait_first_next(self, timeout):
        with self.cond:
            self.cond.wait_for(lambda: self.first_next is not None, timeout=timeout)
            return self.first_next

    def invoke(self, rid, payload):
        with self.cond:
            self.events.append((rid, payload))
            self.cond.notify_all()

    def wait_answer(self, rid, timeout):
        with self.cond:
            self.cond.wait_for(lambda: rid in self.answers, timeout=timeout)
            return self.answers.get(rid)

    def close(self):
        self.server.shutdown()
