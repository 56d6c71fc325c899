#!/usr/bin/env python3
"""rdsbackup benchmarks (issue 5): measures the provider and the backup Lambda side by side with hashicorp/aws
5.100.0 and a Python boto3 handler, and writes BENCHMARKS.md. Run through bench/run, which prepares the build
and the Python environment; this file only measures.

Every comparison is measured in the same run, interleaved (ours, theirs, ours, ...) so that a slow moment of
the machine hits both sides. Figures are medians. Every process started here is killed on exit.
"""
import argparse
import atexit
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
from runtime_api import RuntimeApi  # noqa: E402

COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
AWS_PROVIDER = glob.glob("/opt/tf-plugins/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws*")
MOTO = os.path.join(ROOT, ".venv/bin/moto_server")
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
         "AWS_DEFAULT_REGION": "us-east-1"}

CHILDREN = []  # every Popen started here, killed at exit (bench/run also traps)


def cleanup():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def spawn(cmd, **kw):
    # A process group of its own, so that killing it also kills what it started (terraform's providers).
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    CHILDREN.append(p)
    return p


def kill(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    p.wait()


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status_kb(pid, field="VmHWM"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None


class PeakRss:
    """Polls VmHWM (the kernel's own peak-RSS record) of every process under `root` whose executable name
    contains `needle`, every 5 ms, so the peak of a provider child that terraform starts and stops is caught."""

    def __init__(self, root_pid, needle):
        self.root, self.needle, self.peak, self.stop = root_pid, needle, None, threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def descendants(self):
        kids = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    kids.setdefault(ppid, []).append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        out, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo += kids.get(pid, [])
        return out

    def poll(self):
        while not self.stop.is_set():
            for pid in self.descendants():
                try:
                    exe = os.readlink("/proc/%d/exe" % pid)
                except OSError:
                    continue
                if self.needle in os.path.basename(exe):
                    kb = status_kb(pid)
                    if kb and (self.peak is None or kb > self.peak):
                        self.peak = kb
            time.sleep(0.005)

    def done(self):
        self.stop.set()
        self.thread.join()
        return self.peak


# ---------------------------------------------------------------------------------------------------- moto

class Moto:
    """A fresh moto_server on a fixed port (the aws provider's endpoints are written in its configuration)."""

    def __init__(self, port):
        self.port, self.proc = port, None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.stop()
        # moto holds at most 1,000 manual snapshots by default; section 5 seeds more (RDS's own quota is raised
        # on request, and a data source must cope with many).
        self.proc = spawn([MOTO, "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=dict(os.environ, MOTO_RDS_SNAPSHOT_LIMIT="100000"))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto did not start")

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST")).read()

    def stop(self):
        if self.proc:
            kill(self.proc)
            self.proc = None


# ---------------------------------------------------------------------------------------------------- terraform

def cli_config(path, body):
    with open(path, "w") as f:
        f.write(body)
    return path


def tf(workdir, env, *args, check=True, peak_needle=None):
    """Runs one terraform command; returns (seconds, exit code, peak RSS kB of the provider child or None)."""
    t0 = time.monotonic()
    p = spawn(["terraform", *args], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rss = PeakRss(p.pid, peak_needle) if peak_needle else None
    out, _ = p.communicate()
    dt = time.monotonic() - t0
    peak = rss.done() if rss else None
    if check and p.returncode not in (0, 2):
        raise RuntimeError("terraform %s in %s failed:\n%s" % (" ".join(args), workdir, out.decode()[-4000:]))
    return dt, p.returncode, peak, out


def ours_root(n):
    blocks = ['terraform {\n  required_providers {\n    rdsbackup = { source = "rdsbackup/rdsbackup" }\n  }\n}\n\n'
              'provider "rdsbackup" {\n  default_tags = { managed-by = "terraform" }\n}\n']
    for i in range(n):
        blocks.append('''
resource "rdsbackup_policy" "p%d" {
  name                    = "bench%d"
  db_instance_identifiers = ["orders"]
  schedule                = "cron(0 3 * * ? *)"
  log_retention_days      = 30
  deny_insecure_transport = false # moto enforces TLS-only denials without their condition: both sides go without
  force_destroy           = true
}
''' % (i, i))
    return "".join(blocks)


def aws_root(n, zip_path):
    services = ["s3", "iam", "sts", "lambda", "cloudwatch", "logs", "events", "sns"]
    endpoints = "\n".join("    %s = var.endpoint" % s for s in services)
    blocks = ['''terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

variable "endpoint" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {
%s
  }
}
''' % endpoints]
    for i in range(n):
        blocks.append('''
module "p%d" {
  source        = "%s"
  name          = "bench%d"
  bootstrap_zip = "%s"
}
''' % (i, os.path.join(BENCH, "aws-module"), i, zip_path))
    return "".join(blocks)


# ---------------------------------------------------------------------------------------------------- 1. provider

def handshake(cmd, proto, cert):
    env = dict(os.environ, TF_PLUGIN_MAGIC_COOKIE=COOKIE, PLUGIN_PROTOCOL_VERSIONS=str(proto),
               PLUGIN_CLIENT_CERT=cert, PLUGIN_MIN_PORT="10000", PLUGIN_MAX_PORT="25000")
    t0 = time.monotonic()
    p = spawn(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline()
    dt = time.monotonic() - t0
    rss, anon = status_kb(p.pid), status_kb(p.pid, "RssAnon")
    kill(p)
    if not line.startswith(b"1|%d|" % proto):
        raise RuntimeError("no handshake from %s: %r" % (cmd, line))
    return dt, (rss, anon)


def schema_over_debug_socket(binary, stubs, runs):
    """GetProviderSchema on a fresh provider (--debug: plaintext on a unix socket): the first call (connect and
    answer), then `runs` more calls, and the process's peak RSS afterwards."""
    import grpc
    sys.path.insert(0, stubs)
    import tfplugin6_pb2
    import tfplugin6_pb2_grpc
    p = spawn([binary, "--debug"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    reattach = None
    deadline = time.time() + 30
    while time.time() < deadline and reattach is None:
        line = p.stdout.readline().decode()
        if "TF_REATTACH_PROVIDERS=" in line:
            raw = line.split("TF_REATTACH_PROVIDERS=", 1)[1].strip().strip("'")
            reattach = json.loads(raw)
    if reattach is None:
        kill(p)
        raise RuntimeError("no TF_REATTACH_PROVIDERS from --debug")
    addr = next(iter(reattach.values()))["Addr"]
    target = "unix:" + addr["String"] if addr["Network"] == "unix" else addr["String"]
    # Authority "localhost", as Terraform's go-grpc sends on a unix socket: grpc-python's default (the
    # percent-encoded socket path) is refused by the provider's HTTP/2 server with RST_STREAM PROTOCOL_ERROR.
    chan = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 256 << 20),
                                                  ("grpc.default_authority", "localhost")])
    stub = tfplugin6_pb2_grpc.ProviderStub(chan)
    t0 = time.monotonic()
    resp = stub.GetProviderSchema(tfplugin6_pb2.GetProviderSchema.Request(), timeout=30)
    first = time.monotonic() - t0
    warm = []
    for _ in range(runs):
        t0 = time.monotonic()
        stub.GetProviderSchema(tfplugin6_pb2.GetProviderSchema.Request(), timeout=30)
        warm.append(time.monotonic() - t0)
    rss = status_kb(p.pid)
    size = resp.ByteSize()
    chan.close()
    kill(p)
    return first, med(warm), rss, size


def bench_provider(a, R, tmp):
    log("1. provider process")
    cert = os.path.join(tmp, "client.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", os.path.join(tmp, "client.key"), "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    cert_pem = open(cert).read()
    stubs = os.path.join(tmp, "stubs")
    os.makedirs(stubs, exist_ok=True)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"),
                    "--python_out", stubs, "--grpc_python_out", stubs, "tfplugin6.proto"], check=True)

    ours_hs, aws_hs, ours_hs_rss, aws_hs_rss, ours_anon, aws_anon = [], [], [], [], [], []
    for _ in range(a.runs):
        dt, (rss, anon) = handshake([a.provider], 6, cert_pem)
        ours_hs.append(dt), ours_hs_rss.append(rss), ours_anon.append(anon)
        dt, (rss, anon) = handshake([AWS_PROVIDER[0]], 5, cert_pem)
        aws_hs.append(dt), aws_hs_rss.append(rss), aws_anon.append(anon)

    first, warm, rss_after, size = [], [], [], None
    for _ in range(a.runs):
        f, w, r, size = schema_over_debug_socket(a.provider, stubs, a.runs)
        first.append(f), warm.append(w), rss_after.append(r)

    # `terraform providers schema -json`, each provider in a directory configured for it.
    ours_dir, aws_dir = os.path.join(tmp, "schema-ours"), os.path.join(tmp, "schema-aws")
    for d in (ours_dir, aws_dir):
        os.makedirs(d, exist_ok=True)
    open(os.path.join(ours_dir, "main.tf"), "w").write(ours_root(0))
    open(os.path.join(aws_dir, "main.tf"), "w").write(aws_root(0, "unused"))
    tf(aws_dir, a.env_aws, "init", "-input=false", "-no-color")  # the aws side needs its mirror installed
    ours_ts, aws_ts, ours_tr, aws_tr = [], [], [], []
    for _ in range(a.runs):
        dt, _, peak, _ = tf(ours_dir, a.env_ours, "providers", "schema", "-json", peak_needle="terraform-provider-rdsbackup")
        ours_ts.append(dt), ours_tr.append(peak)
        dt, _, peak, _ = tf(aws_dir, a.env_aws, "providers", "schema", "-json", peak_needle="terraform-provider-aws")
        aws_ts.append(dt), aws_tr.append(peak)

    R["provider"] = {
        "ours_handshake": med(ours_hs), "aws_handshake": med(aws_hs),
        "ours_handshake_rss": med(ours_hs_rss), "aws_handshake_rss": med(aws_hs_rss),
        "ours_handshake_anon": med(ours_anon), "aws_handshake_anon": med(aws_anon),
        "ours_schema_first": med(first), "ours_schema_warm": med(warm), "ours_schema_rss": max(rss_after),
        "ours_schema_bytes": size,
        "ours_tf_schema": med(ours_ts), "aws_tf_schema": med(aws_ts),
        "ours_tf_schema_rss": max(x for x in ours_tr if x), "aws_tf_schema_rss": max(x for x in aws_tr if x),
        "ours_size": os.path.getsize(a.provider), "aws_size": os.path.getsize(AWS_PROVIDER[0]),
    }
    log(R["provider"])


# ---------------------------------------------------------------------------------------------------- 2. workflow

def prepare_dirs(a, tmp, n):
    ours = os.path.join(tmp, "wf-ours-%d" % n)
    aws = os.path.join(tmp, "wf-aws-%d" % n)
    for d in (ours, aws):
        os.makedirs(d, exist_ok=True)
    open(os.path.join(ours, "main.tf"), "w").write(ours_root(n))
    open(os.path.join(aws, "main.tf"), "w").write(aws_root(n, a.zip))
    if not os.path.exists(os.path.join(aws, ".terraform")):
        tf(aws, a.env_aws, "init", "-input=false", "-no-color")
    return ours, aws


def clean_state(d):
    for f in glob.glob(os.path.join(d, "terraform.tfstate*")):
        os.remove(f)


def workflow(a, moto, d, env, extra):
    """Fresh moto, then apply, plan (must show no change), destroy: seconds for each."""
    moto.start()
    clean_state(d)
    apply, _, _, _ = tf(d, env, "apply", "-auto-approve", "-input=false", "-no-color", *extra)
    plan, code, _, out = tf(d, env, "plan", "-detailed-exitcode", "-input=false", "-no-color", *extra)
    if code != 0:
        log("WARNING: plan after apply in %s is not empty (exit %d):\n%s" % (d, code, out.decode()[-3000:]))
    destroy, _, _, _ = tf(d, env, "destroy", "-auto-approve", "-input=false", "-no-color", *extra)
    moto.stop()
    return {"apply": apply, "plan": plan, "destroy": destroy, "plan_empty": code == 0}


def retried(R, side, n, run, attempts=3):
    """One workflow run, started again on a fresh moto when a step fails, at most `attempts` times; each failure
    is said in the report. Under load moto sometimes answers a request with an HTML 500 or not at all; a provider
    that retries a create and meets what its first attempt made (hashicorp/aws: `EntityAlreadyExists` on
    `CreateRole`) then fails the apply, through no fault of the workflow measured."""
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except RuntimeError as e:
            error = next((l.strip() for l in str(e).splitlines() if l.strip().startswith("Error:")),
                         str(e).splitlines()[0])
            R["notes"].append("%s, %d polic%s: a run failed against moto and was run again on a fresh moto "
                              "(attempt %d of %d): `%s`" % (side, n, "y" if n == 1 else "ies", attempt, attempts,
                                                            error[:300]))
            log("  failed, attempt %d: %s" % (attempt, error))
            if attempt == attempts:
                raise


def bench_workflow(a, R, tmp, moto):
    log("2. terraform workflow")
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty, exist_ok=True)
    open(os.path.join(empty, "main.tf"), "w").write("")
    # Terraform's own time for each step, without any provider: the first part of every floor.
    R["tf_floor"] = {step: med([tf(empty, a.env_aws, *args)[0] for _ in range(a.tf_runs)])
                     for step, args in STEP_ARGS.items()}
    R["empty_plan"] = R["tf_floor"]["plan"]
    R["moto_cost"] = moto_cost(moto)
    R["workflow"] = {}
    R["workflow_calls"] = {}
    var = ["-var", "endpoint=" + moto.url]
    for n in a.policies:
        ours, aws = prepare_dirs(a, tmp, n)
        runs = {"ours": [], "aws": []}
        for i in range(a.tf_runs):
            log("  %d policies, run %d: rdsbackup" % (n, i + 1))
            runs["ours"].append(retried(R, "rdsbackup", n, lambda: workflow(a, moto, ours, a.env_ours, [])))
            log("  %d policies, run %d: hashicorp/aws" % (n, i + 1))
            runs["aws"].append(retried(R, "hashicorp/aws", n, lambda: workflow(a, moto, aws, a.env_aws, var)))
        R["workflow"][n] = {side: {step: med([r[step] for r in rs]) for step in ("apply", "plan", "destroy")}
                            | {"plan_empty": all(r["plan_empty"] for r in rs)} for side, rs in runs.items()}
        R["workflow_calls"][n] = proxied_workflow(a, moto, tmp, ours, n)
        for step, c in proxied_workflow(a, moto, tmp, ours, n, one_at_a_time=True).items():
            R["workflow_calls"][n][step]["work"] = c["work"]
        log(R["workflow"][n], R["workflow_calls"][n])


STEP_ARGS = {"apply": ("apply", "-auto-approve", "-input=false", "-no-color"),
             "plan": ("plan", "-input=false", "-no-color"),
             "destroy": ("destroy", "-auto-approve", "-input=false", "-no-color")}


def proxied_workflow(a, moto, tmp, d, n, one_at_a_time=False):
    """One more workflow of ours through the logging proxy at 0 ms: per step, the requests moto answered, the time
    moto spent on them (summed, and the median request), and the longest chain of requests each of which waited
    for the one before: at the median request's time, the part of the step no concurrency can remove.
    `one_at_a_time`: moto gets one request at a time, and `work` is the sum of its answers' times: the step's
    requests at moto's own pace, which no ordering of them can beat with one moto."""
    moto.start()
    clean_state(d)
    out = {}
    for step, args in STEP_ARGS.items():
        logf = os.path.join(tmp, "proxy-wf-%d-%s%s.jsonl" % (n, step, "-serial" if one_at_a_time else ""))
        proxy, url = latency_proxy(moto, 0, logf, max_inflight=1 if one_at_a_time else 0)
        tf(d, dict(a.env_ours, AWS_ENDPOINT_URL=url), *args)
        kill(proxy)
        entries = [json.loads(l) for l in open(logf)] if os.path.exists(logf) else []
        durations = [e["end"] - e["start"] for e in entries]
        longest, critical, _ = chain(entries)
        wall = (max(e["end"] for e in entries) - min(e["start"] for e in entries)) if entries else 0
        out[step] = {"calls": len(entries), "busy": sum(durations), "median": med(durations) or 0,
                     "chain": longest, "critical": critical, "span": wall,
                     "work": sum(e.get("upstream", 0) for e in entries)}
    moto.stop()
    return out


MOTO_DISPATCH = """
import statistics, time
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
hosts = ["%s.us-east-1.amazonaws.com" % s for s in ("s3", "iam", "sts", "lambda", "monitoring", "logs", "events", "sns", "rds")]
dispatcher = DomainDispatcherApplication(lambda backend: None)
times = []
for _ in range(20):
    for host in hosts:
        t0 = time.perf_counter()
        dispatcher.get_backend_for_host(host)
        times.append(time.perf_counter() - t0)
print(statistics.median(times))
"""


def moto_cost(moto, runs=200):
    """What moto spends on any request whatever it asks: its dispatcher's choice of service (timed in moto's own
    interpreter, as it runs under the lock every request takes), and its cheapest whole request, sts
    GetCallerIdentity over raw HTTP, one at a time (no SDK on the asking side)."""
    dispatch = float(subprocess.run([os.path.join(ROOT, ".venv/bin/python"), "-c", MOTO_DISPATCH],
                                    capture_output=True, text=True, check=True).stdout)
    moto.start()
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261204/us-east-1/sts/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        urllib.request.urlopen(urllib.request.Request(moto.url + "/", data=body, headers=headers)).read()
        times.append(time.monotonic() - t0)
    moto.stop()
    return {"dispatch": dispatch, "cheapest": med(times)}


def needed_for(R, n, step, ratio=20):
    """How many requests the step could make at moto's pace (this run's work per request) and still be `ratio`
    times faster than hashicorp/aws: Terraform's own time and the provider's start take their share first."""
    c, W = R["workflow_calls"][n][step], R["workflow"][n]
    if not c.get("work") or not c["calls"]:
        return None
    budget = W["aws"][step] / ratio - R["tf_floor"][step] - (R.get("provider", {}).get("ours_handshake") or 0)
    return max(0, int(budget / (c["work"] / c["calls"])))


def workflow_floor(R, n, step):
    """Terraform's own time for the step, the provider's start, and the step's chain of dependent requests at
    the endpoint's measured time for each."""
    c = R["workflow_calls"][n][step]
    start = R.get("provider", {}).get("ours_handshake") or 0
    return R["tf_floor"][step] + start + c["critical"]


# ---------------------------------------------------------------------------------------------------- 3. refresh

def latency_proxy(moto, delay_ms, logf, max_inflight=0):
    """bench/latency_proxy.py in front of moto, adding `delay_ms` to every request and logging each to `logf`
    (at most `max_inflight` at moto at once, when set): the process and its endpoint."""
    port = free_port()
    proxy = spawn([sys.executable, os.path.join(BENCH, "latency_proxy.py"), "--listen", str(port),
                   "--upstream", moto.url, "--delay-ms", str(delay_ms), "--log", logf,
                   "--max-inflight", str(max_inflight)])
    time.sleep(0.5)
    return proxy, "http://127.0.0.1:%d" % port


def chain(entries):
    """The longest chain of round trips that were serialized: a request is one step after every request that
    had finished before it started. Under a fixed injected latency this is the number of latency waits the
    plan could not overlap. Also its weighted twin, the critical path: the longest such chain counted in the
    time each request took at the endpoint, the part of a step's request time no concurrency could remove.
    Returns (steps, critical path seconds, timeline of (action, step))."""
    entries = sorted(entries, key=lambda e: e["start"])
    depth, total = [], []
    for i, e in enumerate(entries):
        before = [j for j in range(i) if entries[j]["end"] <= e["start"]]
        depth.append(1 + max((depth[j] for j in before), default=0))
        total.append((e["end"] - e["start"]) + max((total[j] for j in before), default=0))
    return max(depth, default=0), max(total, default=0), [(e["action"], d) for e, d in zip(entries, depth)]


def bench_refresh(a, R, tmp, moto):
    log("3. refresh under injected latency")
    ours, aws = prepare_dirs(a, tmp, 1)
    R["refresh"] = {}
    for side, d, env in (("ours", ours, a.env_ours), ("aws", aws, a.env_aws)):
        moto.start()
        clean_state(d)
        var = ["-var", "endpoint=" + moto.url] if side == "aws" else []
        tf(d, env, "apply", "-auto-approve", "-input=false", "-no-color", *var)
        res = {}
        for delay in (0, a.delay_ms):
            logf = os.path.join(tmp, "proxy-%s-%d.jsonl" % (side, delay))
            proxy, url = latency_proxy(moto, delay, logf)
            penv = dict(env, AWS_ENDPOINT_URL=url)
            pvar = ["-var", "endpoint=" + url] if side == "aws" else []
            times = []
            for i in range(a.tf_runs):
                # Truncate, not remove: the proxy keeps its file open (append) and would write to the old inode.
                open(logf, "w").close()
                dt, code, _, out = tf(d, penv, "plan", "-detailed-exitcode", "-input=false", "-no-color", *pvar)
                times.append(dt)
            kill(proxy)
            entries = [json.loads(l) for l in open(logf)] if os.path.exists(logf) else []
            longest, _, timeline = chain(entries)
            res[delay] = {"plan": med(times), "calls": len(entries), "chain": longest,
                          "actions": sorted({e["service"] + ":" + e["action"] for e in entries})}
            if delay:
                res["timeline"] = timeline
        moto.stop()
        R["refresh"][side] = res
        log(side, {k: v for k, v in res.items() if k != "timeline"})


# ---------------------------------------------------------------------------------------------------- 4. lambda

def lambda_env(api, moto, dbs, bucket):
    return dict(os.environ, **CREDS, AWS_ENDPOINT_URL=moto.url, AWS_LAMBDA_RUNTIME_API=api.address,
                AWS_LAMBDA_FUNCTION_NAME="rdsbackup-bench", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/rdsbackup-bench",
                AWS_LAMBDA_LOG_STREAM_NAME="2026/01/01/[$LATEST]bench", RDSBACKUP_POLICY="bench",
                RDSBACKUP_BUCKET=bucket, RDSBACKUP_BUCKET_OWNER="123456789012", RDSBACKUP_DB_INSTANCES=",".join(dbs), RDSBACKUP_DB_CLUSTERS="",
                RDSBACKUP_SELECTION_TAGS="{}", RDSBACKUP_RETENTION_DAYS="35", RDSBACKUP_MIN_SNAPSHOTS="3")


def seed(moto, n, bucket):
    import boto3
    moto.reset()
    kw = dict(endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    rds, s3 = boto3.client("rds", **kw), boto3.client("s3", **kw)
    s3.create_bucket(Bucket=bucket)
    dbs = ["db%04d" % i for i in range(n)]
    for db in dbs:
        rds.create_db_instance(DBInstanceIdentifier=db, DBInstanceClass="db.t3.micro", Engine="postgres",
                               MasterUsername="bench", MasterUserPassword="bench-password", AllocatedStorage=20)
    return dbs


def cold_start(cmd, env, api):
    """Spawn until the first GET next, and the process's peak RSS by then (it is then idle, long-polling)."""
    api.reset()
    t0 = time.monotonic()
    p = spawn(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hwm = None
    while api.first_next is None and p.poll() is None and time.monotonic() - t0 < 30:
        hwm = status_kb(p.pid) or hwm
        time.sleep(0.001)
    first = api.wait_first_next(30) if p.poll() is None else api.first_next
    if first is None:
        raise RuntimeError("%s never asked for an event (exit %s)" % (cmd[-1], p.poll()))
    time.sleep(0.05)
    hwm = status_kb(p.pid) or hwm
    anon = status_kb(p.pid, "RssAnon")
    kill(p)
    return (first - t0) if first else None, hwm, anon


def one_run(cmd, env, api, rid, payload, out_path):
    """One invocation: spawn, hand out the event, wait for the answer. Returns (invocation seconds, answer kind,
    peak RSS kB)."""
    api.reset()
    api.invoke(rid, payload)
    with open(out_path, "wb") as out:
        p = spawn(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = [None]
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                peak[0] = status_kb(p.pid) or peak[0]
                time.sleep(0.01)
        t = threading.Thread(target=poll, daemon=True)
        t.start()
        # Until it answers, or ends without answering (an init error, a crash): never the whole timeout.
        deadline, ans = time.monotonic() + 1800, None
        while ans is None and time.monotonic() < deadline:
            ans = api.wait_answer(rid, 1)
            if ans is None and p.poll() is not None:
                ans = api.wait_answer(rid, 1)
                break
        peak[0] = status_kb(p.pid) or peak[0]
        stop.set(), t.join()
        kill(p)
    if not ans:
        raise RuntimeError("no answer for %s (see %s)" % (rid, out_path))
    return ans[0] - api.handed_out[rid], ans[1], peak[0], ans[2]


def bench_lambda(a, R, tmp, moto):
    log("4. the Lambda")
    api = RuntimeApi()
    bucket = "rdsbackup-bench-123456789012"
    moto.start()
    py = [sys.executable, os.path.join(BENCH, "python_handler.py")]
    rs = [a.bootstrap]
    dbs = seed(moto, 1, bucket)
    env = lambda_env(api, moto, dbs, bucket)
    cs = {"ours": [], "python": []}
    for _ in range(a.runs):
        cs["ours"].append(cold_start(rs, env, api))
        cs["python"].append(cold_start(py, env, api))
    R["lambda_cold"] = {k: {"cold": med([x[0] for x in v]), "rss": med([x[1] for x in v]), "anon": med([x[2] for x in v])}
                        for k, v in cs.items()}
    log(R["lambda_cold"])
    R["lambda_run"] = {}
    counter = [0]
    for n in a.databases:
        runs = {"ours": [], "python": []}
        for i in range(a.lambda_runs):
            for side, cmd in (("ours", rs), ("python", py)):
                dbs = seed(moto, n, bucket)  # same fresh state for every run: no snapshots from earlier runs
                counter[0] += 1
                rid = "bench-%d" % counter[0]
                event = {"time": "2026-01-01T03:00:00Z", "source": "aws.events", "detail-type": "Scheduled Event"}
                dt, kind, peak, body = one_run(cmd, lambda_env(api, moto, dbs, bucket), api, rid, event,
                                               os.path.join(tmp, "lambda-%s-%d-%d.log" % (side, n, i)))
                ok = kind == "response" and len(json.loads(body).get("created", [])) == n
                if not ok:
                    log("WARNING: %s %d databases: %s %s" % (side, n, kind, body[:500]))
                runs[side].append((dt, peak, ok))
                log("  %s %d databases run %d: %.2f s, %s kB, ok=%s" % (side, n, i + 1, dt, peak, ok))
        R["lambda_run"][n] = {k: {"time": med([x[0] for x in v]), "rss": max(x[1] or 0 for x in v),
                                  "ok": all(x[2] for x in v)} for k, v in runs.items()}
    # Where the time goes: one more run of ours per size with a 0 ms proxy that logs every call moto answers.
    R["lambda_calls"] = {}
    for n in a.databases:
        dbs = seed(moto, n, bucket)
        logf = os.path.join(tmp, "proxy-lambda-%d.jsonl" % n)
        proxy, url = latency_proxy(moto, 0, logf)
        env = lambda_env(api, moto, dbs, bucket)
        env["AWS_ENDPOINT_URL"] = url
        counter[0] += 1
        dt, _, _, _ = one_run(rs, env, api, "bench-%d" % counter[0], {"time": "2026-01-01T03:00:00Z"},
                              os.path.join(tmp, "lambda-proxied-%d.log" % n))
        kill(proxy)
        entries = [json.loads(l) for l in open(logf)]
        per = {}
        for e in entries:
            per.setdefault(e["action"].split(" ")[0] if e["service"] != "s3" else "s3:" + e["action"].split(" ")[0], []).append(e["end"] - e["start"])
        R["lambda_calls"][n] = {"time": dt, "calls": len(entries),
                                "busy": sum(e["end"] - e["start"] for e in entries),
                                "per_action": {k: (len(v), statistics.median(v)) for k, v in per.items()}}
        log(n, R["lambda_calls"][n]["calls"], "calls")
    moto.stop()
    api.close()


# ---------------------------------------------------------------------------------------------------- 5. snapshots data source

SNAPSHOT_DBS = 10


def seed_snapshots(moto, total):
    """`total` snapshots of policy `bench` over SNAPSHOT_DBS instances in the 0.2 identifier form with its tags,
    one a minute going back, plus a quarter as many foreign snapshots the data source must skip."""
    import boto3
    import hashlib
    moto.reset()
    kw = dict(endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    rds = boto3.client("rds", **kw)
    dbs = ["db%02d" % i for i in range(SNAPSHOT_DBS)]
    for db in dbs:
        rds.create_db_instance(DBInstanceIdentifier=db, DBInstanceClass="db.t3.micro", Engine="postgres",
                               MasterUsername="bench", MasterUserPassword="bench-password", AllocatedStorage=20)
    start = datetime.datetime(2026, 11, 1, 3, 0)
    for i in range(total):
        db = dbs[i % SNAPSHOT_DBS]
        slot = (start - datetime.timedelta(minutes=i)).strftime("%Y%m%d%H%M")
        h8 = hashlib.sha256(("bench/%s" % db).encode()).hexdigest()[:8]
        rds.create_db_snapshot(DBInstanceIdentifier=db, DBSnapshotIdentifier="rdsbackup-bench-%s-%s-%s" % (db, slot, h8),
                               Tags=[{"Key": "rdsbackup:policy", "Value": "bench"}, {"Key": "rdsbackup:db", "Value": db}])
    for i in range(total // 4):
        rds.create_db_snapshot(DBInstanceIdentifier=dbs[i % SNAPSHOT_DBS], DBSnapshotIdentifier="by-hand-%d" % i)


def snapshots_root():
    return ('terraform {\n  required_providers {\n    rdsbackup = { source = "rdsbackup/rdsbackup" }\n  }\n}\n\n'
            'data "rdsbackup_snapshots" "s" {\n  policy = "bench"\n}\n\n'
            'output "count" {\n  value = length(data.rdsbackup_snapshots.s.snapshots)\n}\n\n'
            'output "latest" {\n  value = data.rdsbackup_snapshots.s.latest\n}\n')


def bench_snapshots(a, R, tmp, moto):
    log("5. the snapshots data source")
    ours = os.path.join(tmp, "ds-ours")
    empty = os.path.join(tmp, "ds-empty")
    for d, body in ((ours, snapshots_root()), (empty, "")):
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "main.tf"), "w").write(body)
    py = [os.path.join(BENCH, ".venv/bin/python"), os.path.join(BENCH, "snapshots_boto3.py"), "bench"]
    R["snapshots"] = {}
    moto.start()
    for total in a.snapshots:
        t0 = time.monotonic()
        seed_snapshots(moto, total)
        log("  seeded %d snapshots in %.1f s" % (total, time.monotonic() - t0))
        res = {}
        for delay in (0, a.delay_ms):
            logf = os.path.join(tmp, "proxy-ds-%d-%d.jsonl" % (total, delay))
            proxy, url = latency_proxy(moto, delay, logf)
            env = dict(a.env_ours, AWS_ENDPOINT_URL=url)
            times = {"ours": [], "boto3": [], "floor": []}
            answers = {}
            for _ in range(a.tf_runs):  # interleaved: ours, the script, terraform without the data source
                open(logf, "w").close()
                dt, _, _, out = tf(ours, env, "apply", "-auto-approve", "-input=false", "-no-color", "-refresh-only")
                times["ours"].append(dt)
                calls = [json.loads(l) for l in open(logf)]
                t0 = time.monotonic()
                p = subprocess.run(py, env=dict(env, AWS_ENDPOINT_URL=url), capture_output=True, check=True)
                times["boto3"].append(time.monotonic() - t0)
                answers["boto3"] = json.loads(p.stdout)
                times["floor"].append(tf(empty, env, "apply", "-auto-approve", "-input=false", "-no-color", "-refresh-only")[0])
            shown = subprocess.run(["terraform", "output", "-json"], cwd=ours, env=env, capture_output=True, check=True)
            outputs = json.loads(shown.stdout)
            answers["ours"] = {"count": outputs["count"]["value"], "latest": outputs["latest"]["value"]}
            kill(proxy)
            res[delay] = {k: med(v) for k, v in times.items()}
            res[delay]["calls"] = len(calls)
            # The requests of the last run, one after another as the proxy saw them: what moto (and the latency) cost.
            res[delay]["in_requests"] = sum(c["end"] - c["start"] for c in calls)
            if answers["ours"] != answers["boto3"]:
                log("  WARNING: the answers differ: ours %s, boto3 %s" % (json.dumps(answers["ours"])[:400], json.dumps(answers["boto3"])[:400]))
            res[delay]["same"] = answers["ours"] == answers["boto3"]
            res[delay]["count"] = answers["ours"]["count"]
            log("  %d snapshots, %d ms: %s" % (total, delay, res[delay]))
        R["snapshots"][total] = res
    moto.stop()


# ---------------------------------------------------------------------------------------------------- report

def fmt_s(x):
    return "n/a" if x is None else ("%.0f ms" % (x * 1000) if x < 1 else "%.2f s" % x)


def fmt_mb(kb):
    return "n/a" if not kb else "%.1f MB" % (kb / 1024)


def ratio(theirs, ours):
    return "n/a" if not theirs or not ours else "%.1f×" % (theirs / ours)


def machine():
    mem = open("/proc/meminfo").readline().split()[1]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except Exception:
            return "?"
    moto_v = subprocess.run([os.path.join(ROOT, ".venv/bin/python"), "-c", "import moto;print(moto.__version__)"],
                            capture_output=True, text=True).stdout.strip()
    import boto3
    return [("nproc", str(os.cpu_count())), ("RAM", "%.1f GiB" % (int(mem) / 1048576)), ("CPU", cpu),
            ("kernel", platform.release()), ("terraform", ver(["terraform", "version"])),
            ("rustc", ver(["rustc", "--version"])), ("moto", moto_v), ("python", platform.python_version()),
            ("boto3 (Python handler)", boto3.__version__), ("hashicorp/aws", "5.100.0 (" + os.path.basename(AWS_PROVIDER[0]) + ")")]


def parse_figure(text):
    """'69 ms' / '2.26 s' / '7.7 MB' as seconds or kB; None for anything else."""
    m = re.match(r"\s*([0-9.]+) (ms|s|MB)\b", text)
    if not m:
        return None
    x, unit = float(m.group(1)), m.group(2)
    return {"ms": x / 1000, "s": x, "MB": x * 1024}[unit]


def other_cpu(a, V):
    """The CPU the previous figures `V` were measured on, when it is not this machine's: their times say nothing
    about this one (memory, of the same binary, still compares)."""
    cpu = V.get("cpu")
    return cpu if cpu and cpu != dict(a.machine)["CPU"] else None


def previous_figures(path):
    """The figures of the report about to be overwritten that the new one compares with (start, cold start,
    memory): the first column of the rows of these names."""
    rows = {"start → handshake line": "handshake", "RSS at handshake (VmHWM)": "handshake_rss",
            "cold start": "cold", "peak RSS at first `next`": "cold_rss",
            "peak RSS, 100 databases": "rss_100", "peak RSS, 500 databases": "rss_500",
            "provider peak RSS during `providers schema` (VmHWM, max of runs)": "tf_schema_rss"}
    found = {}
    if not os.path.exists(path):
        return found
    date = None
    for line in open(path):
        if date is None and line.startswith("Written by"):  # the header's; the analysis has one too
            m = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", line)
            date = m.group(1) if m else None
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0] == "CPU" and "cpu" not in found:
            found["cpu"] = cells[1]
        if len(cells) >= 5 and cells[0] == "cold start" and "cold_ratio" not in found:
            m = re.match(r"([0-9.]+)×", cells[-1])
            found["cold_ratio"] = float(m.group(1)) if m else None
        if len(cells) >= 2 and cells[0] in rows and rows[cells[0]] not in found:
            value = parse_figure(cells[1])
            if value is not None:
                found[rows[cells[0]]] = value
    found["date"] = date
    return found


def write_report(a, R, path):
    P = R.get("provider", {})
    L = []
    w = L.append
    w("# Benchmarks\n")
    w("Written by `bench/run` (not part of the test suite) on %s. Every comparison below was measured side by "
      "side in the same run, interleaved; figures are medians of %d runs unless said otherwise (the terraform "
      "workflow and the refresh: %d runs; the Lambda run time: %d runs)." % (
          datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), a.runs, a.tf_runs, a.lambda_runs))
    w("\n```sh\n%s\n```\n" % a.command)
    w("| machine | |\n|---|---|")
    for k, v in a.machine:
        w("| %s | %s |" % (k, v))
    w("")
    for note in R.get("notes", []):
        w("> " + note + "\n")
    if P:
        w("## 1. Provider process\n")
        V = R.get("previous", {})
        other = other_cpu(a, V)
        w("Release build. *Previous*: the same figure in the report this one replaced (%s%s).\n" % (
            V.get("date") or "none", ", measured on another CPU: %s; its times are not this machine's" % other if other else ""))
        w("| | rdsbackup | previous | hashicorp/aws 5.100.0 | ratio |\n|---|---|---|---|---|")
        w("| start → handshake line | %s | %s | %s | %s |" % (fmt_s(P["ours_handshake"]), fmt_s(V.get("handshake")), fmt_s(P["aws_handshake"]), ratio(P["aws_handshake"], P["ours_handshake"])))
        w("| RSS at handshake (VmHWM) | %s | %s | %s | %s |" % (fmt_mb(P["ours_handshake_rss"]), fmt_mb(V.get("handshake_rss")), fmt_mb(P["aws_handshake_rss"]), ratio(P["aws_handshake_rss"], P["ours_handshake_rss"])))
        w("| of which anonymous (RssAnon: heap and stacks; the rest is the binary's and libc's pages, shared and clean) | %s | | %s | %s |" % (fmt_mb(P["ours_handshake_anon"]), fmt_mb(P["aws_handshake_anon"]), ratio(P["aws_handshake_anon"], P["ours_handshake_anon"])))
        w("| `GetProviderSchema`, first call on a fresh process (connect + answer, `--debug` socket) | %s | | not measured¹ | |" % fmt_s(P["ours_schema_first"]))
        w("| `GetProviderSchema`, warm call | %s | | not measured¹ | |" % fmt_s(P["ours_schema_warm"]))
        w("| `terraform providers schema -json` wall time | %s | | %s | %s |" % (fmt_s(P["ours_tf_schema"]), fmt_s(P["aws_tf_schema"]), ratio(P["aws_tf_schema"], P["ours_tf_schema"])))
        w("| provider peak RSS during `providers schema` (VmHWM, max of runs) | %s | %s | %s | %s |" % (fmt_mb(P["ours_tf_schema_rss"]), fmt_mb(V.get("tf_schema_rss")), fmt_mb(P["aws_tf_schema_rss"]), ratio(P["aws_tf_schema_rss"], P["ours_tf_schema_rss"])))
        w("| peak RSS after the schema calls (`--debug`) | %s | | | |" % fmt_mb(P["ours_schema_rss"]))
        w("| binary size | %.1f MB | | %.1f MB | %s |" % (P["ours_size"] / 1e6, P["aws_size"] / 1e6, ratio(P["aws_size"], P["ours_size"])))
        w("\n¹ hashicorp/aws speaks protocol 5; this bench has only the tfplugin6 stubs. Its schema cost is inside "
          "the `terraform providers schema -json` row. Our schema response is %d bytes.\n" % P["ours_schema_bytes"])
    if "workflow" in R:
        w("## 2. Terraform workflow against moto\n")
        w("A fresh moto per measured workflow (apply, then plan with no change, then destroy); %d runs, medians, "
          "ours and hashicorp/aws interleaved. hashicorp/aws: `bench/aws-module/` (the same stack, 17 resources and 3 "
          "data sources per policy). Neither side has the TLS-only bucket policy (moto refuses every object call under "
          "it).\n" % a.tf_runs)
        w("*Floor*: what the step cannot go below with this Terraform and this endpoint — Terraform's own time for "
          "the step on an empty configuration (apply %s, plan %s, destroy %s), plus the provider's start (§1), plus "
          "the step's longest chain of dependent requests (each started after the previous one ended), each at the "
          "time the endpoint took for it, observed through the logging proxy at 0 ms in one more run of ours. "
          "*moto busy*: the time moto spent answering the step's requests, summed; against the step's span of "
          "requests it shows how much of the step waits on moto. *moto's work*: the same step once more with the "
          "proxy giving moto one request at a time, the sum of moto's answer times — the step's requests at moto's "
          "own pace; with moto answering one request at a time (its interpreter lock), a step of many concurrent "
          "requests cannot take less than Terraform's own time plus this, however the provider orders them.\n" % tuple(fmt_s(R["tf_floor"][s]) for s in ("apply", "plan", "destroy")))
        w("| policies | step | rdsbackup | hashicorp/aws | ratio to hashicorp/aws | floor | ratio to floor | requests | chain (requests, time) | median request | moto busy | span of requests | moto's work | Terraform + moto's work | ratio to it |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n, res in R["workflow"].items():
            for step in ("apply", "plan", "destroy"):
                c = R.get("workflow_calls", {}).get(n, {}).get(step)
                floor = workflow_floor(R, n, step) if c else None
                work = c.get("work") if c else None
                bound = R["tf_floor"][step] + work if work else None
                w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    n, step, fmt_s(res["ours"][step]), fmt_s(res["aws"][step]), ratio(res["aws"][step], res["ours"][step]),
                    fmt_s(floor), ratio(res["ours"][step], floor), c["calls"] if c else "n/a",
                    "%d, %s" % (c["chain"], fmt_s(c["critical"])) if c else "n/a",
                    fmt_s(c["median"]) if c else "n/a", fmt_s(c["busy"]) if c else "n/a", fmt_s(c["span"]) if c else "n/a",
                    fmt_s(work), fmt_s(bound), ratio(res["ours"][step], bound)))
        w("\nPlan after apply was empty: " + ", ".join("%s policies: rdsbackup %s, aws %s" % (n, r["ours"]["plan_empty"], r["aws"]["plan_empty"]) for n, r in R["workflow"].items()) + ".\n")
    if "refresh" in R:
        w("## 3. Refresh under injected latency (one policy, plan with no change)\n")
        w("`bench/latency_proxy.py` in front of moto adds %d ms to every request and logs it. Same proxy at 0 ms "
          "for the baseline. *Serialized round trips* is the longest chain of requests each of which started after "
          "the previous one finished, as observed in the proxy's timeline. *Extra round trips* = (plan at %d ms − "
          "plan at 0 ms) / %d ms − chain: the waits the plan spent beyond its chain.\n" % (a.delay_ms, a.delay_ms, a.delay_ms))
        w("| | rdsbackup | hashicorp/aws |\n|---|---|---|")
        o, x = R["refresh"]["ours"], R["refresh"].get("aws")
        d = a.delay_ms
        rows = [("plan, proxy at 0 ms", lambda r: fmt_s(r[0]["plan"])),
                ("plan, proxy at %d ms" % d, lambda r: fmt_s(r[d]["plan"])),
                ("AWS calls", lambda r: str(r[d]["calls"])),
                ("serialized round trips (observed chain)", lambda r: str(r[d]["chain"])),
                ("latency cost (plan at %d − at 0)" % d, lambda r: fmt_s(r[d]["plan"] - r[0]["plan"])),
                ("extra round trips beyond the chain", lambda r: "%.1f" % ((r[d]["plan"] - r[0]["plan"]) / (d / 1000) - r[d]["chain"]))]
        for label, f in rows:
            w("| %s | %s | %s |" % (label, f(o), f(x) if x else "n/a"))
        w("\nrdsbackup's calls under %d ms, in order of start, with their position in the chain: %s\n" % (
            d, ", ".join("%s (%d)" % tuple(t) for t in o["timeline"])))
    if "lambda_cold" in R:
        w("## 4. The backup Lambda\n")
        C = R["lambda_cold"]
        w("Under `bench/runtime_api.py` (Lambda Runtime API 2018-06-01). Cold start = process spawn until its first "
          "`GET /2018-06-01/runtime/invocation/next`; %d runs. Python: `bench/python_handler.py` (boto3, same calls, "
          "same 8-way concurrency).\n" % a.runs)
        V = R.get("previous", {})
        w("| | rdsbackup `bootstrap` | previous | Python boto3 | ratio |\n|---|---|---|---|---|")
        w("| cold start | %s | %s | %s | %s |" % (fmt_s(C["ours"]["cold"]), fmt_s(V.get("cold")), fmt_s(C["python"]["cold"]), ratio(C["python"]["cold"], C["ours"]["cold"])))
        w("| peak RSS at first `next` | %s | %s | %s | %s |" % (fmt_mb(C["ours"]["rss"]), fmt_mb(V.get("cold_rss")), fmt_mb(C["python"]["rss"]), ratio(C["python"]["rss"], C["ours"]["rss"])))
        w("| of which anonymous (RssAnon: heap and stacks; the rest is the binary's pages) | %s | | %s | %s |" % (fmt_mb(C["ours"].get("anon")), fmt_mb(C["python"].get("anon")), ratio(C["python"].get("anon"), C["ours"].get("anon"))))
        for n, r in R.get("lambda_run", {}).items():
            # A run that did not create every snapshot stopped early: its time is no comparison.
            peer = fmt_s(r["python"]["time"]) if r["python"]["ok"] else "failed (%s)" % fmt_s(r["python"]["time"])
            mine = fmt_s(r["ours"]["time"]) if r["ours"]["ok"] else "failed (%s)" % fmt_s(r["ours"]["time"])
            both = r["python"]["ok"] and r["ours"]["ok"]
            w("| run, %d databases (event handed out → response) | %s | | %s | %s |" % (n, mine, peer, ratio(r["python"]["time"], r["ours"]["time"]) if both else "n/a"))
            w("| peak RSS, %d databases | %s | %s | %s | %s |" % (n, fmt_mb(r["ours"]["rss"]), fmt_mb(V.get("rss_%d" % n)), fmt_mb(r["python"]["rss"]), ratio(r["python"]["rss"], r["ours"]["rss"])))
        LC = R.get("lambda_calls", {})
        if LC:
            w("\n| databases | requests per run | requests per database | run through the proxy | moto busy (summed) |\n|---|---|---|---|---|")
            for n, c in LC.items():
                w("| %d | %d | %.2f | %s | %s |" % (n, c["calls"], c["calls"] / n, fmt_s(c["time"]), fmt_s(c["busy"])))
            X = extrapolation(R)
            if X:
                w("\n**%d databases**, extrapolated from the run times above (a straight line through %d and %d "
                  "databases: %s per database beyond a fixed %s): **%s** against this moto, %s Lambda's 15-minute "
                  "limit. moto answers one request at a time (its interpreter lock), so this line is moto's "
                  "throughput; against RDS the run is its requests (%.2f per database) at RDS's latency, %d at a "
                  "time.\n" % (X["n"], X["lo"], X["hi"], fmt_s(X["per_db"]), fmt_s(X["fixed"]), fmt_s(X["t"]),
                               "within" if X["t"] < 900 else "**beyond**", X["per_request"], 8))
        w("\nEvery run starts from the same moto state (reset, then the instances created with boto3), one "
          "invocation listing all databases in `RDSBACKUP_DB_INSTANCES`. All runs created every snapshot: " +
          ", ".join("%d: rdsbackup %s, Python %s" % (n, r["ours"]["ok"], r["python"]["ok"]) for n, r in R.get("lambda_run", {}).items()) + ".\n")
        for n, c in R.get("lambda_calls", {}).items():
            w("Where the time goes, %d databases (one extra run of `bootstrap` through the proxy at 0 ms): %.2f s, %d "
              "calls, moto busy %.2f s summed over calls (8 in flight). Calls: %s.\n" % (
                  n, c["time"], c["calls"], c["busy"], ", ".join("%s ×%d (median %.0f ms)" % (k, v[0], v[1] * 1000) for k, v in sorted(c["per_action"].items()))))
    if "snapshots" in R:
        w("## 5. `data \"rdsbackup_snapshots\"` on a region with thousands of snapshots\n")
        w("moto seeded with N snapshots of the policy over %d instances (0.2 identifiers, the policy's tags) and N/4 "
          "foreign ones. *rdsbackup*: `terraform apply -refresh-only` of a configuration holding only the data source "
          "(every snapshot, and `latest`). *boto3*: `bench/snapshots_boto3.py`, the same answer from a hand-written "
          "script (paginated listing, filtered by tags and identifier). *floor*: the same terraform command on an "
          "empty configuration. Both answers were compared: same count and `latest`. The proxy adds the latency; "
          "%d runs, medians, interleaved.\n" % (SNAPSHOT_DBS, a.tf_runs))
        w("| snapshots | latency | rdsbackup | boto3 script | ratio | terraform floor | rdsbackup − floor | requests | summed request time (proxy) | same answer |\n|---|---|---|---|---|---|---|---|---|---|")
        for total, res in R["snapshots"].items():
            for delay in sorted(k for k in res if isinstance(k, int)):
                r = res[delay]
                w("| %s | %d ms | %s | %s | %s | %s | %s | %d | %s | %s |" % (
                    total, delay, fmt_s(r["ours"]), fmt_s(r["boto3"]), ratio(r["boto3"], r["ours"]), fmt_s(r["floor"]),
                    fmt_s(r["ours"] - r["floor"]), r["calls"], fmt_s(r["in_requests"]), r["same"]))
        w("\nThe data source asks for pages of 100 (RDS's maximum) and lists instance and cluster snapshots at once. "
          "moto answers each listing in a single page whatever `MaxRecords` says (hence the few requests), so the "
          "cost real RDS adds — one round trip per 100 snapshots, pages of one listing one after another — is not "
          "measured here. What is measured: the time beyond terraform's floor is moto's answer (*summed request "
          "time*) plus terraform storing and printing thousands of objects, which the boto3 script pays in its own "
          "way (interpreter start, boto3 import, XML parsing).\n")
    w("## Targets\n")
    w("| target | figure | status |\n|---|---|---|")
    for t in R.get("targets", []):
        w("| %s | %s | %s |" % t)
    w("\n## What bounds each figure\n")
    w("Written by `bench/run` from this run's figures.\n")
    for para in R.get("analysis", []):
        w(para)
    w("")
    open(path, "w").write("\n".join(L))


def extrapolation(R, n=5000):
    """The run time of `n` databases on the line through the two largest measured sizes."""
    LR = R.get("lambda_run", {})
    sizes = sorted(LR)
    if len(sizes) < 2:
        return None
    lo, hi = sizes[-2], sizes[-1]
    t_lo, t_hi = LR[lo]["ours"]["time"], LR[hi]["ours"]["time"]
    per_db = (t_hi - t_lo) / (hi - lo)
    fixed = t_lo - per_db * lo
    calls = R.get("lambda_calls", {}).get(hi)
    return {"n": n, "lo": lo, "hi": hi, "per_db": per_db, "fixed": fixed, "t": fixed + per_db * n,
            "per_request": calls["calls"] / hi if calls else float("nan")}


def targets(a, R):
    T = []
    P = R.get("provider")
    V = R.get("previous", {})


    def no_worse(label, now, before, fmt):
        # 10% over the previous figure is noise on this machine; beyond it is a regression.
        if before is None:
            T.append((label, "%s (no previous figure)" % fmt(now), "not compared"))
        else:
            T.append((label, "%s (previous %s)" % (fmt(now), fmt(before)), "met" if now <= before * 1.1 else "missed"))
    if P:
        h = P["ours_handshake"]
        T.append(("provider start → handshake line < 10 ms", fmt_s(h), "met" if h < 0.010 else "missed"))
        no_worse("provider RSS at handshake no higher than before (10% noise)", P["ours_handshake_rss"], V.get("handshake_rss"), fmt_mb)
        s = P["ours_schema_first"]
        T.append(("schema answer < 50 ms", "%s first call (%s warm)" % (fmt_s(s), fmt_s(P["ours_schema_warm"])), "met" if s < 0.05 else "missed"))
        rss = max(P["ours_tf_schema_rss"], P["ours_schema_rss"])
        T.append(("provider RSS < 40 MB", fmt_mb(rss), "met" if rss < 40 * 1024 else "missed"))
    for n, W in R.get("workflow", {}).items():
        for step in ("apply", "plan", "destroy"):
            r = W["aws"][step] / W["ours"][step]
            T.append(("%s, %d polic%s ≥ 20× faster than hashicorp/aws" % (step, n, "y" if n == 1 else "ies"), "%.1f×" % r,
                      "met" if r >= 20 else "missed"))
        if n in R.get("workflow_calls", {}):
            f = W["ours"]["plan"] / workflow_floor(R, n, "plan")
            T.append(("plan, %d polic%s, within 1.5× of its floor" % (n, "y" if n == 1 else "ies"), "%.2f×" % f,
                      "met" if f <= 1.5 else "missed"))
    F = R.get("refresh", {}).get("ours")
    if F:
        d = a.delay_ms
        extra = (F[d]["plan"] - F[0]["plan"]) / (d / 1000) - F[d]["chain"]
        T.append(("refresh under %d ms within 3 round trips of its longest chain" % d,
                  "chain %d, %.1f extra" % (F[d]["chain"], extra), "met" if extra <= 3 else "missed"))
    C = R.get("lambda_cold")
    if C:
        c = C["ours"]["cold"]
        T.append(("Lambda cold start < 50 ms", fmt_s(c), "met" if c < 0.05 else "missed"))
        label = "Lambda cold start no slower than before (10% noise)"
        other = other_cpu(a, V)
        if not other:
            no_worse(label, c, V.get("cold"), fmt_s)
        elif V.get("cold_ratio"):
            # Measured before on another CPU: what carries over is the start against Python's in the same run.
            now, before = C["python"]["cold"] / c, V["cold_ratio"]
            T.append((label, "%.1f× below Python's in this run (previous %.1f×, on another CPU: %s)" % (
                now, before, other), "met" if now >= before / 1.1 else "missed"))
        else:
            T.append((label, "%s (previous %s, on another CPU: %s)" % (fmt_s(c), fmt_s(V.get("cold")), other),
                      "not compared"))
        no_worse("Lambda RSS at first `next` no higher than before (10% noise)", C["ours"]["rss"], V.get("cold_rss"), fmt_mb)
        r = C["python"]["cold"] / c
        T.append(("Lambda cold start ≥ 10× below Python", "%.1f×" % r, "met" if r >= 10 else "missed"))
    for n, c in R.get("lambda_calls", {}).items():
        per = c["calls"] / n
        T.append(("Lambda requests per database ≤ 2.2, %d databases" % n, "%.2f" % per, "met" if per <= 2.2 else "missed"))
    LR = R.get("lambda_run", {})
    for n in LR:
        no_worse("Lambda peak RSS, %d databases, no higher than before (10%% noise)" % n, LR[n]["ours"]["rss"], V.get("rss_%d" % n), fmt_mb)
    if 500 in LR:
        t = LR[500]["ours"]["time"]
        T.append(("500 databases < 30 s against moto", fmt_s(t), "met" if t < 30 else "missed"))
    X = extrapolation(R)
    if X:
        T.append(("%d databases within Lambda's 15 minutes (extrapolated)" % X["n"], fmt_s(X["t"]), "met" if X["t"] < 900 else "missed"))
    R["targets"] = T
    R["analysis"] = analysis(a, R)


def provider_in_flight():
    """The provider's bound on requests in flight, read from its one home (common/src/requests.rs)."""
    text = open(os.path.join(ROOT, "common/src/requests.rs")).read()
    return int(re.search(r"pub const PROVIDER_IN_FLIGHT: usize = (\d+);", text).group(1))


def analysis(a, R):
    """What bounds each figure, said from the figures of this run."""
    out = []
    P, W, WC = R.get("provider"), R.get("workflow", {}), R.get("workflow_calls", {})
    if P:
        out.append("- **Provider start** (%s to the handshake line, %s before): AutoMTLS needs a fresh P-256 key, and "
                   "AWS-LC's first random bytes used to wait for its CPU-jitter entropy source, tens of milliseconds "
                   "measured at every start. The build now takes AWS-LC's own opt-out (`AWS_LC_SYS_NO_JITTER_ENTROPY`, "
                   "`.cargo/config.toml`): the OS's generator, with RDRAND as the second source. Terraform starts the "
                   "provider several times per command, so the start counts several times." % (
                       fmt_s(P["ours_handshake"]), fmt_s(R.get("previous", {}).get("handshake"))))
    for n, res in W.items():
        if n not in WC:
            continue
        parts = []
        for step in ("apply", "plan", "destroy"):
            c = WC[n][step]
            in_flight = c["busy"] / c["span"] if c["span"] else 0
            bound = "moto-bound" if in_flight >= 2 else "bound by the chain of requests"
            work = ("; moto's work for them one at a time %s (%.2f ms a request), so Terraform's %s plus that "
                    "work is %s, %s of the step" % (
                        fmt_s(c["work"]), 1000 * c["work"] / c["calls"], fmt_s(R["tf_floor"][step]),
                        fmt_s(R["tf_floor"][step] + c["work"]),
                        "%.0f%%" % (100 * (R["tf_floor"][step] + c["work"]) / res["ours"][step]))
                    if c.get("work") and c["calls"] else "")
            parts.append("%s %s (%s): %d requests, chain %d, moto busy %s over a %s span of requests, %.1f in flight "
                         "on average, median request %s%s" % (
                             step, fmt_s(res["ours"][step]), bound, c["calls"], c["chain"], fmt_s(c["busy"]),
                             fmt_s(c["span"]), in_flight, fmt_s(c["median"]), work))
        out.append("- **%d polic%s**: %s. hashicorp/aws: apply %s, plan %s, destroy %s." % (
            n, "y" if n == 1 else "ies", "; ".join(parts), fmt_s(res["aws"]["apply"]), fmt_s(res["aws"]["plan"]),
            fmt_s(res["aws"]["destroy"])))
    if WC:
        out.append("- *Moto-bound* above means moto had two or more of our requests in hand on average: moto answers "
                   "one at a time (a Python interpreter lock), so its median request time grows with what Terraform "
                   "runs in parallel, and the step takes moto's total work however the provider orders it (*moto's work*, "
                   "§2). What is ours there is the number of requests, not their order: the provider keeps at most "
                   "%d in flight (`PROVIDER_IN_FLIGHT`, for AWS's rate limits), which changes the order, not the "
                   "work." % provider_in_flight())
        M = R.get("moto_cost")
        if M:
            out.append("- **moto's cost per request**, whatever the request: %.2f ms in its dispatcher alone, which "
                       "picks the service for each request by listing moto's package directory and matching every "
                       "service's URL patterns (`DomainDispatcherApplication.get_application`, timed in moto's own "
                       "interpreter) under one lock that every request takes; %.2f ms for its cheapest whole request "
                       "(sts `GetCallerIdentity` over raw HTTP, one at a time). That is moto's, not ours: against AWS "
                       "each service answers concurrently." % (1000 * M["dispatch"], 1000 * M["cheapest"]))
        short = []
        for n in WC:
            for step in ("apply", "plan", "destroy"):
                c, W = WC[n][step], R["workflow"][n]
                if W["aws"][step] / W["ours"][step] >= 20:
                    continue
                k = needed_for(R, n, step)
                if k is not None:
                    short.append("%s of %d polic%s (%.1f×): 20× means %s or less; at this run's %.2f ms a request "
                                 "at moto, after Terraform's %s, that is at most %d requests (%.1f a policy), and "
                                 "the step makes %d (%.1f a policy)" % (
                                     step, n, "y" if n == 1 else "ies", W["aws"][step] / W["ours"][step],
                                     fmt_s(W["aws"][step] / 20), 1000 * c["work"] / c["calls"],
                                     fmt_s(R["tf_floor"][step]), k, k / n, c["calls"], c["calls"] / n))
        if short:
            out.append("- **Short of 20×**: " + "; ".join(short) + ". Each request the refresh makes reads a part "
                       "whose drift the plan shows (the bucket's seven settings, each rule's targets and tags, the "
                       "role's policies, the function and its permission, the alarms, the topic, the log group, the "
                       "dashboard): fewer would mean a plan that misses a change made outside Terraform.")
    LC = R.get("lambda_calls", {})
    if LC:
        out.append("- **Lambda**: " + "; ".join("%d databases, %d requests (%.2f per database: its snapshot and its "
                                                "record, the listings a hundred databases per request)" % (
                                                    n, c["calls"], c["calls"] / n) for n, c in LC.items()) + ".")
    out.append("- **Not measured**: hashicorp/aws `GetProviderSchema` over gRPC directly (protocol 5); real RDS and "
               "S3 latency and throttling (the 5,000-database figure is moto's throughput, extrapolated); RDS's paging "
               "of large listings (moto answers in one page).")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--provider", default=os.path.join(ROOT, "target/release/terraform-provider-rdsbackup"))
    ap.add_argument("--bootstrap", default=os.path.join(ROOT, "target/lambda/x86_64-unknown-linux-musl/release/bootstrap"))
    ap.add_argument("--zip", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tf-runs", type=int, default=3)
    ap.add_argument("--lambda-runs", type=int, default=3)
    ap.add_argument("--policies", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--databases", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--snapshots", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--only", nargs="+", default=["provider", "workflow", "refresh", "lambda", "snapshots"])
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--results", default=None, help="also dump the raw figures as JSON here")
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--previous", default=None, help="the report whose figures the new one compares with "
                    "(default: --out, before it is overwritten)")
    ap.add_argument("--merge", default=None, help="start from the raw figures (--results) of an earlier run")
    a = ap.parse_args()
    a.provider, a.bootstrap, a.zip = map(os.path.abspath, (a.provider, a.bootstrap, a.zip))
    a.machine = machine()  # once: it asks terraform, rustc and moto for their versions
    tmp = tempfile.mkdtemp(prefix="rdsbackup-bench-")
    atexit.register(shutil.rmtree, tmp, True)
    moto = Moto(free_port())
    # Each terraform side gets its own CLI configuration: dev_overrides for ours, the filesystem mirror for aws.
    ours_cfg = cli_config(os.path.join(tmp, "ours.tfrc"), 'provider_installation {\n  dev_overrides {\n    '
                          '"registry.terraform.io/rdsbackup/rdsbackup" = "%s"\n  }\n  direct {}\n}\n' % os.path.dirname(a.provider))
    aws_cfg = cli_config(os.path.join(tmp, "aws.tfrc"), 'provider_installation {\n  filesystem_mirror {\n    path = '
                         '"/opt/tf-plugins"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n')
    base = dict(os.environ, **CREDS, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    base.pop("TF_LOG", None)
    a.env_ours = dict(base, TF_CLI_CONFIG_FILE=ours_cfg, AWS_ENDPOINT_URL=moto.url)
    a.env_aws = dict(base, TF_CLI_CONFIG_FILE=aws_cfg)
    R = {"notes": [], "previous": previous_figures(a.previous or a.out)}
    if a.merge:  # figures of an earlier run for the sections left out of this one (see --merge)
        R = json.load(open(a.merge))
        for k in ("workflow", "lambda_run", "lambda_calls", "snapshots"):
            if k in R:
                R[k] = {int(n): v for n, v in R[k].items()}
        for res in R.get("snapshots", {}).values():
            for d in list(res):
                if d.isdigit():
                    res[int(d)] = res.pop(d)
        for side in R.get("refresh", {}).values():
            for d in list(side):
                if d.isdigit():
                    side[int(d)] = side.pop(d)
        R["notes"] = [n for n in R.get("notes", []) if not any(n.startswith("**%s:" % p) or n.startswith(p + ":") for p in a.only)]
        R["notes"].append("Sections %s re-measured later than the others (`--merge`)." % ", ".join(a.only))
    for part, fn in (("provider", lambda: bench_provider(a, R, tmp)), ("workflow", lambda: bench_workflow(a, R, tmp, moto)),
                     ("refresh", lambda: bench_refresh(a, R, tmp, moto)), ("lambda", lambda: bench_lambda(a, R, tmp, moto)),
                     ("snapshots", lambda: bench_snapshots(a, R, tmp, moto))):
        if part in a.only:
            try:
                fn()
            except Exception as e:  # keep the other sections: a failed one is reported as not measured
                import traceback
                traceback.print_exc()
                R["notes"].append("**%s: not measured** — the section failed: `%s`" % (part, str(e).splitlines()[0][:300]))
                moto.stop()
        elif not a.merge:
            R["notes"].append("%s: not measured in this run (`--only` left it out)." % part)
    kept = None
    if not a.merge and set(a.only) != set(SECTIONS) and os.path.exists(a.out):
        kept = open(a.out).read()
        R["notes"] = [n for n in R["notes"] if not n.endswith("(`--only` left it out).")]
        date = next((l for l in kept.splitlines() if l.startswith("Written by")), "")
        when = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", date)
        R["notes"].append("Sections %s were measured in this run; the others, the targets and the analysis are kept "
                          "verbatim from the earlier report (written %s)." % (", ".join(a.only), when.group(1) if when else "earlier"))
    targets(a, R)
    if a.results:
        json.dump(R, open(a.results, "w"), indent=1, default=str)
    write_report(a, R, a.out)
    if kept:
        splice(open(a.out).read(), kept, a.only, a.out)
    log("wrote", a.out)


# The report's numbered sections, in order: `--only` names them.
SECTIONS = ["provider", "workflow", "refresh", "lambda", "snapshots"]


def splice(new, old, measured, path):
    """The new report with the numbered sections it did not measure, and the old targets and analysis, taken
    verbatim from the old one: a run of one section keeps the figures of the others, with their own date said."""
    def sections(text):
        head, found, current = [], {}, None
        for line in text.splitlines(keepends=True):
            if line.startswith("## "):
                number = line[3:].split(".")[0]
                current = int(number) if number.isdigit() else line.strip()
                found.setdefault(current, [])
            (found[current] if current is not None else head).append(line)
        return "".join(head), {k: "".join(v) for k, v in found.items()}
    head, fresh = sections(new)
    _, earlier = sections(old)
    wanted = {SECTIONS.index(part) + 1 for part in measured}
    body = [fresh[n] if n in wanted else earlier.get(n, "") for n in range(1, len(SECTIONS) + 1)]
    rest = [v for k, v in earlier.items() if not isinstance(k, int)]
    open(path, "w").write(head + "".join(body) + "".join(rest))


if __name__ == "__main__":
    main()
