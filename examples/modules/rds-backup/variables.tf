variable "name" {
  description = "Policy name, part of every AWS name the stack gets (rdsbackup-<name>)."
  type        = string
}

variable "db_instance_identifiers" {
  description = "RDS DB instances to back up."
  type        = set(string)
  default     = []
}

variable "db_cluster_identifiers" {
  description = "Aurora DB clusters to back up."
  type        = set(string)
  default     = []
}

variable "selection_tags" {
  description = "Also back up every instance and cluster carrying all these tags."
  type        = map(string)
  default     = {}
}

variable "schedule" {
  description = "EventBridge cron(...) (six fields, UTC) or rate(...) expression."
  type        = string
  default     = "cron(0 3 * * ? *)"
}

variable "retention_days" {
  description = "Days a snapshot is kept, min_snapshots permitting."
  type        = number
  default     = 35
}

variable "min_snapshots" {
  description = "Snapshots always kept per database, however old."
  type        = number
  default     = 3
}

variable "alarm_sns_topic_arn" {
  description = "An existing SNS topic for the alarms; null creates one per policy."
  type        = string
  default     = null
}

variable "deny_insecure_transport" {
  description = "Deny every request to the records bucket made without TLS."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags on every AWS resource of the stack."
  type        = map(string)
  default     = {}
}

variable "copies" {
  description = "Regions to copy every snapshot into (up to 5), each with an optional key of that region and retention of its own (the policy's when null)."
  type = list(object({
    region         = string
    kms_key_arn    = optional(string)
    retention_days = optional(number)
    min_snapshots  = optional(number)
  }))
  default = []
}

variable "vault" {
  description = "The vault account every new snapshot is shared with, and a customer managed key of this account (its key policy letting the vault account use it) that snapshots RDS cannot share as they are get copied onto first. Null: no vault."
  type = object({
    account_id  = string
    kms_key_arn = string
  })
  default = null
}
