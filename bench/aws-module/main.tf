# The same stack one `rdsbackup_policy` creates, hand-written with hashicorp/aws 5.100.0: the reference the
# benchmark compares the provider with (bench/run, BENCHMARKS.md). Names follow provider/src/policy/names.rs.
# Like the rdsbackup side (deny_insecure_transport = false), it has no TLS-only bucket policy: moto enforces
# bucket-policy denials without their conditions, so neither side gets one, for fairness.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

variable "name" { type = string }
variable "bootstrap_zip" { type = string }
variable "db_instance_identifiers" {
  type    = list(string)
  default = ["orders"]
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  prefix = "rdsbackup-${var.name}"
  tags   = { "rdsbackup:policy" = var.name, "managed-by" = "terraform" }
  bucket = "rdsbackup-${var.name}-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket" "records" {
  bucket        = local.bucket
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "records" {
  bucket = aws_s3_bucket.records.id
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "aws:kms" }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "records" {
  bucket = aws_s3_bucket.records.id
  versioning_configuration { status = "Enabled" }
}

resource "aws_s3_bucket_public_access_block" "records" {
  bucket                  = aws_s3_bucket.records.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "records" {
  bucket = aws_s3_bucket.records.id
  rule { object_ownership = "BucketOwnerEnforced" }
}

resource "aws_s3_bucket_lifecycle_configuration" "records" {
  bucket = aws_s3_bucket.records.id
  rule {
    id     = "rdsbackup-glacier"
    status = "Enabled"
    filter { prefix = "" }
    transition {
      days          = 30
      storage_class = "GLACIER"
    }
    noncurrent_version_transition {
      noncurrent_days = 30
      storage_class   = "GLACIER"
    }
  }
  depends_on = [aws_s3_bucket_versioning.records]
}

resource "aws_iam_role" "backup" {
  name = local.prefix
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "lambda.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "backup" {
  name = local.prefix
  role = aws_iam_role.backup.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Describe", Effect = "Allow", Action = ["rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots"], Resource = "*" },
      { Sid = "Snapshot", Effect = "Allow", Action = ["rds:CreateDBSnapshot", "rds:AddTagsToResource"], Resource = [for db in var.db_instance_identifiers : "arn:${data.aws_partition.current.partition}:rds:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:db:${db}"] },
      { Sid = "SnapshotResource", Effect = "Allow", Action = ["rds:CreateDBSnapshot", "rds:AddTagsToResource"], Resource = "arn:${data.aws_partition.current.partition}:rds:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:snapshot:rdsbackup-${var.name}-*" },
      { Sid = "Prune", Effect = "Allow", Action = ["rds:DeleteDBSnapshot"], Resource = "*", Condition = { StringEquals = { "aws:ResourceTag/rdsbackup:policy" = var.name } } },
      { Sid = "Records", Effect = "Allow", Action = ["s3:PutObject"], Resource = "${aws_s3_bucket.records.arn}/snapshots/*" },
      { Sid = "Logs", Effect = "Allow", Action = ["logs:CreateLogStream", "logs:PutLogEvents"], Resource = "${aws_cloudwatch_log_group.backup.arn}:*" },
    ]
  })
}

resource "aws_cloudwatch_log_group" "backup" {
  name              = "/aws/lambda/${local.prefix}"
  retention_in_days = 30
  tags              = local.tags
}

resource "aws_lambda_function" "backup" {
  function_name    = local.prefix
  role             = aws_iam_role.backup.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  filename         = var.bootstrap_zip
  source_code_hash = filebase64sha256(var.bootstrap_zip)
  memory_size      = 256
  timeout          = 300
  environment {
    variables = {
      RDSBACKUP_POLICY         = var.name
      RDSBACKUP_BUCKET         = aws_s3_bucket.records.id
      RDSBACKUP_DB_INSTANCES   = join(",", var.db_instance_identifiers)
      RDSBACKUP_DB_CLUSTERS    = ""
      RDSBACKUP_SELECTION_TAGS = "{}"
      RDSBACKUP_RETENTION_DAYS = "35"
      RDSBACKUP_MIN_SNAPSHOTS  = "3"
    }
  }
  tags       = local.tags
  depends_on = [aws_cloudwatch_log_group.backup, aws_iam_role_policy.backup]
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = local.prefix
  schedule_expression = "cron(0 3 * * ? *)"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule      = aws_cloudwatch_event_rule.schedule.name
  target_id = "rdsbackup"
  arn       = aws_lambda_function.backup.arn
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "rdsbackup-schedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.backup.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}

resource "aws_sns_topic" "alarms" {
  name = "${local.prefix}-alarms"
  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "overdue" {
  alarm_name          = "${local.prefix}-backup-overdue"
  alarm_description   = "No successful backup of policy ${var.name} within 26 hours"
  namespace           = "RDSBackup"
  metric_name         = "SnapshotsCreated"
  dimensions          = { Policy = var.name }
  statistic           = "Sum"
  unit                = "None"
  period              = 3600
  evaluation_periods  = 26
  datapoints_to_alarm = 26
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${local.prefix}-errors"
  alarm_description   = "The backup function of policy ${var.name} failed"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.backup.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}
