output "account_id" {
  description = "The account the stack lives in."
  value       = rdsbackup_policy.this.account_id
}

output "bucket_name" {
  description = "Bucket holding the snapshot records."
  value       = rdsbackup_policy.this.bucket_name
}

output "function_arn" {
  description = "The backup function."
  value       = rdsbackup_policy.this.function_arn
}

output "alarm_names" {
  description = "CloudWatch alarms of the stack."
  value       = rdsbackup_policy.this.alarm_names
}

output "alarm_sns_topic_arn" {
  description = "Topic the alarms notify."
  value       = rdsbackup_policy.this.alarm_sns_topic_arn
}
