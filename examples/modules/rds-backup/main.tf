# A backup policy with an organisation's defaults; one instance per account, through provider aliases.
resource "rdsbackup_policy" "this" {
  name                    = var.name
  db_instance_identifiers = var.db_instance_identifiers
  db_cluster_identifiers  = var.db_cluster_identifiers
  selection_tags          = var.selection_tags
  schedule                = var.schedule
  retention_days          = var.retention_days
  min_snapshots           = var.min_snapshots
  alarm_sns_topic_arn     = var.alarm_sns_topic_arn
  deny_insecure_transport = var.deny_insecure_transport
  log_retention_days      = 90
  tags                    = merge({ backup-policy = var.name }, var.tags)

  dynamic "copy" {
    for_each = var.copies
    content {
      region         = copy.value.region
      kms_key_arn    = copy.value.kms_key_arn
      retention_days = copy.value.retention_days
      min_snapshots  = copy.value.min_snapshots
    }
  }

  dynamic "vault" {
    for_each = var.vault == null ? [] : [var.vault]
    content {
      account_id  = vault.value.account_id
      kms_key_arn = vault.value.kms_key_arn
    }
  }
}
