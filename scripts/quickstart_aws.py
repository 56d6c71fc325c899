"""Local AWS helpers for scripts/quickstart, run with the venv's Python (boto3 comes with moto).

  seed                      create the example's databases: DB instance "orders", Aurora cluster "analytics"
  env FUNCTION              print the deployed function's environment as shell assignments
  show POLICY BUCKET        list the policy's snapshots with their tags, and print one metadata record
"""
import json
import os
import shlex
import sys

import boto3


def client(service):
    return boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])


def seed():
    rds = client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="quickstart-only", AllocatedStorage=20,
    )
    rds.create_db_cluster(
        DBClusterIdentifier="analytics", Engine="aurora-postgresql",
        MasterUsername="admin", MasterUserPassword="quickstart-only",
    )
    print("created DB instance orders and Aurora cluster analytics")


def env(function):
    variables = client("lambda").get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    for key, value in sorted(variables.items()):
        print(f"export {key}={shlex.quote(value)}")


def show(policy, bucket):
    rds, s3 = client("rds"), client("s3")
    owned = lambda tags: any(t["Key"] == "rdsbackup:policy" and t["Value"] == policy for t in tags)
    snapshots = [
        (s["DBSnapshotIdentifier"], s["TagList"])
        for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] if owned(s.get("TagList", []))
    ] + [
        (s["DBClusterSnapshotIdentifier"], s["TagList"])
        for s in rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
        if owned(s.get("TagList", []))
    ]
    for identifier, tags in snapshots:
        print(f"snapshot {identifier}  tags: " + ", ".join(f"{t['Key']}={t['Value']}" for t in tags))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="snapshots/").get("Contents", [])]
    for key in keys:
        print(f"record s3://{bucket}/{key}")
    if keys:
        record = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
        print(json.dumps(record, indent=2))
    if not snapshots or not keys:
        sys.exit("no snapshot or record found")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"seed": seed, "env": env, "show": show}[command](*args)
