# Local quick start: a backup policy for two databases, planned and applied against the local AWS endpoint
# (moto) that scripts/quickstart starts. Region, credentials and endpoint come from the environment it sets.

terraform {
  required_version = ">= 1.5"
  required_providers {
    rdsbackup = {
      source = "rdsbackup/rdsbackup"
    }
  }
}

provider "rdsbackup" {
  default_tags = {
    managed-by = "terraform"
  }
}

resource "rdsbackup_policy" "nightly" {
  name                    = "nightly"
  db_instance_identifiers = ["orders"]
  db_cluster_identifiers  = ["analytics"]
  schedule                = "cron(0 3 * * ? *)"
  retention_days          = 7
  min_snapshots           = 3

  # The local endpoint speaks plain HTTP and enforces bucket-policy denials without their conditions, so the
  # TLS-only bucket policy would refuse every request there. Keep the default (true) on AWS.
  deny_insecure_transport = false
  force_destroy           = true

  tags = {
    environment = "quickstart"
  }
}

output "bucket_name" {
  value = rdsbackup_policy.nightly.bucket_name
}

output "function_arn" {
  value = rdsbackup_policy.nightly.function_arn
}
