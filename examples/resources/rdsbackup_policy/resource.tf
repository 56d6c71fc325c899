resource "rdsbackup_policy" "production" {
  name                    = "production"
  db_instance_identifiers = ["orders", "billing"]
  db_cluster_identifiers  = ["analytics"]

  # Also every database tagged backup = daily.
  selection_tags = {
    backup = "daily"
  }

  schedule             = "cron(30 2 * * ? *)"
  retention_days       = 35
  min_snapshots        = 7
  max_backup_age_hours = 26
  log_retention_days   = 90

  tags = {
    cost-center = "databases"
  }
}
