# Back up every database that carries backup = daily (and team = payments), however many there are and
# whenever they are created: the function selects by tags at each run, from the describe calls' tag lists.

terraform {
  required_version = ">= 1.5"
  required_providers {
    rdsbackup = {
      source = "rdsbackup/rdsbackup"
    }
  }
}

provider "rdsbackup" {}

resource "rdsbackup_policy" "tagged" {
  name = "payments-daily"
  selection_tags = {
    backup = "daily"
    team   = "payments"
  }
  schedule       = "cron(30 1 * * ? *)"
  retention_days = 14
  # Local endpoints answer plain HTTP only; on AWS keep the default (true).
  deny_insecure_transport = false
}

output "function_name" {
  value = rdsbackup_policy.tagged.function_name
}
