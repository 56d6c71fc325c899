#!/usr/bin/env python3
"""The peer of `data "rdsbackup_snapshots"` in bench/bench.py: the same answer from a hand-written boto3 script
(every manual instance and cluster snapshot listed page by page, the policy's own kept by tags and identifier
prefix, newest first, the newest available per database). Prints the count and the latest map as JSON."""
import json
import sys

import boto3

policy = sys.argv[1]
rds = boto3.client("rds")
prefix = "rdsbackup-%s-" % policy
own = []
for op, key, ident in (("describe_db_snapshots", "DBSnapshots", "DBSnapshotIdentifier"),
                       ("describe_db_cluster_snapshots", "DBClusterSnapshots", "DBClusterSnapshotIdentifier")):
    for page in rds.get_paginator(op).paginate(SnapshotType="manual", PaginationConfig={"PageSize": 100}):
        for s in page[key]:
            tags = {t["Key"]: t["Value"] for t in s.get("TagList", [])}
            if tags.get("rdsbackup:policy") == policy and "rdsbackup:db" in tags and s[ident].startswith(prefix):
                own.append((s.get("SnapshotCreateTime"), s[ident], tags["rdsbackup:db"], s["Status"]))
own.sort(key=lambda s: (s[0] is not None, s[0], s[1]), reverse=True)
latest = {}
for created, ident, db, status in own:
    if status == "available":
        latest.setdefault(db, ident)
print(json.dumps({"count": len(own), "latest": latest}))
