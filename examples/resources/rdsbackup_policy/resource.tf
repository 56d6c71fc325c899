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

  # Every snapshot also in two other regions: encrypted databases need a key of the destination region.
  copy {
    region      = "us-west-2"
    kms_key_arn = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }
  copy {
    region         = "eu-central-1"
    kms_key_arn    = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ac"
    retention_days = 90
    min_snapshots  = 3
  }

  # The first snapshot of each month exported to S3 as Parquet and kept 7 years in Glacier Deep Archive.
  archive {
    every       = "month"
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ad"
  }

  # Every Sunday, orders restored from its newest snapshot into a throwaway database in the private subnets,
  # timed against a 30-minute RTO, deleted, and the evidence kept under drills/ of the bucket.
  restore_drill {
    db_identifiers         = ["orders"]
    subnet_group_name      = "private-db"
    vpc_security_group_ids = ["sg-0123456789abcdef0"]
    rto_target_minutes     = 30
  }

  tags = {
    cost-center = "databases"
  }
}
