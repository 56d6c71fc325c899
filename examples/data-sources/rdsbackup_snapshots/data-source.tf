# The newest available snapshot of each database of the policy, at home and in a copy region.
data "rdsbackup_snapshots" "production" {
  policy = "production"
}

data "rdsbackup_snapshots" "orders_in_oregon" {
  policy        = "production"
  db_identifier = "orders"
  region        = "us-west-2"
}

output "restore_orders_from" {
  value = data.rdsbackup_snapshots.production.latest["orders"]
}
