# A restore pipeline: a new instance from the newest available snapshot the policy "production" owns of "orders",
# with hashicorp/aws. Change `restore_from` to restore in a copy region (and configure that provider's region).

terraform {
  required_version = ">= 1.7"
  required_providers {
    rdsbackup = { source = "rdsbackup/rdsbackup" }
    aws       = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

variable "policy" {
  type    = string
  default = "production"
}

variable "database" {
  type    = string
  default = "orders"
}

data "rdsbackup_snapshots" "backups" {
  policy        = var.policy
  db_identifier = var.database
}

resource "aws_db_instance" "restored" {
  identifier          = "${var.database}-restored"
  snapshot_identifier = data.rdsbackup_snapshots.backups.latest[var.database]
  instance_class      = "db.t3.medium"
  skip_final_snapshot = true

  lifecycle {
    precondition {
      condition     = contains(keys(data.rdsbackup_snapshots.backups.latest), var.database)
      error_message = "No available snapshot of ${var.database} in policy ${var.policy}."
    }
  }
}

output "restored_endpoint" {
  value = aws_db_instance.restored.address
}
