#!/usr/bin/env python3
"""The comparison for the Rust `bootstrap`: the same backup run as a Python boto3 handler behind a hand-written
Runtime API loop (what a `provided` or `python3.x` runtime does). Same configuration (RDSBACKUP_* env vars, see
common/src/lib.rs), same calls, same concurrency (8 databases at a time, like lambda/src/run.rs):
DescribeDBInstances (paginated), then per selected database CreateDBSnapshot with the rdsbackup:policy /
rdsbackup:db tags, PutObject of snapshots/<db>/<id>.json, DescribeDBSnapshots (manual) for retention and
DeleteDBSnapshot of the expired ones beyond the minimum. Clusters are left out: the benchmark has none.
"""
import datetime
import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3  # imported at start-up, as a real handler module would
from botocore.config import Config
from botocore.parsers import ResponseParserError

API = "http://%s/2018-06-01/runtime" % os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
POLICY = os.environ["RDSBACKUP_POLICY"]
BUCKET = os.environ["RDSBACKUP_BUCKET"]
INSTANCES = [x for x in os.environ.get("RDSBACKUP_DB_INSTANCES", "").split(",") if x]
SELECTION = json.loads(os.environ.get("RDSBACKUP_SELECTION_TAGS") or "{}")
RETENTION_DAYS = int(os.environ.get("RDSBACKUP_RETENTION_DAYS", "35"))
MIN_SNAPSHOTS = int(os.environ.get("RDSBACKUP_MIN_SNAPSHOTS", "3"))

cfg = Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=16,
             s3={"addressing_style": "path"})
rds = boto3.client("rds", config=cfg)
s3 = boto3.client("s3", config=cfg)


def call(operation, **kw):
    """botocore's standard retries cover a 5xx answer it can parse; moto's HTML "500 Internal Server Error" page
    (a race of its own under concurrent requests) it cannot, and raises instead. Retried here, with backoff, as
    the Rust SDK retries any 500, so that the comparison is not lost to it."""
    for attempt in range(10):
        try:
            return operation(**kw)
        except ResponseParserError:
            if attempt == 9:
                raise
            time.sleep(0.05 * 2 ** min(attempt, 4))


def selected(instance):
    if instance["DBInstanceIdentifier"] in INSTANCES:
        return True
    tags = {t["Key"]: t["Value"] for t in instance.get("TagList", [])}
    return bool(SELECTION) and all(tags.get(k) == v for k, v in SELECTION.items())


def back_up(db, now):
    sid = "rdsbackup-%s-%s-%s" % (POLICY, db, now.strftime("%Y%m%d%H%M"))
    try:
        snap = call(rds.create_db_snapshot, DBInstanceIdentifier=db, DBSnapshotIdentifier=sid, Tags=[
            {"Key": "rdsbackup:policy", "Value": POLICY}, {"Key": "rdsbackup:db", "Value": db}])["DBSnapshot"]
    except rds.exceptions.DBSnapshotAlreadyExistsFault:  # made by an attempt whose answer was the 500
        snap = call(rds.describe_db_snapshots, DBSnapshotIdentifier=sid)["DBSnapshots"][0]
    record = {"snapshot_id": sid, "db": db, "kind": "instance", "policy": POLICY, "status": "created",
              "arn": snap.get("DBSnapshotArn"), "created_at": now.isoformat()}
    call(s3.put_object, Bucket=BUCKET, Key="snapshots/%s/%s.json" % (db, sid), Body=json.dumps(record, indent=2),
         ContentType="application/json")
    ours = [s for s in call(rds.describe_db_snapshots, DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]
            if s["DBSnapshotIdentifier"].startswith("rdsbackup-%s-%s-" % (POLICY, db))]
    ours.sort(key=lambda s: s.get("SnapshotCreateTime", now), reverse=True)
    cutoff = now - datetime.timedelta(days=RETENTION_DAYS)
    deleted = []
    for s in ours[MIN_SNAPSHOTS:]:
        if s.get("SnapshotCreateTime", now) < cutoff:
            call(rds.delete_db_snapshot, DBSnapshotIdentifier=s["DBSnapshotIdentifier"])
            deleted.append(s["DBSnapshotIdentifier"])
    return sid, deleted


def handle(event):
    # EventBridge's scheduled `time`, else the clock (as lambda/src/slot.rs does).
    now = (datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time")
           else datetime.datetime.now(datetime.timezone.utc))
    dbs = []
    for page in rds.get_paginator("describe_db_instances").paginate():
        dbs += [i["DBInstanceIdentifier"] for i in page["DBInstances"] if selected(i)]
    created, deleted = [], []
    with ThreadPoolExecutor(8) as pool:
        for sid, gone in pool.map(lambda db: back_up(db, now), dbs):
            created.append(sid)
            deleted += gone
    return {"created": sorted(created), "existing": [], "deleted": sorted(deleted), "failed": []}


def main():
    while True:
        with urllib.request.urlopen(API + "/invocation/next", timeout=None) as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read() or b"{}")
        try:
            body, kind = json.dumps(handle(event)).encode(), "response"
        except Exception as e:  # reported like the Python runtime does
            body, kind = json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)}).encode(), "error"
        urllib.request.urlopen(urllib.request.Request("%s/invocation/%s/%s" % (API, rid, kind), data=body,
                                                      method="POST")).read()


if __name__ == "__main__":
    main()
