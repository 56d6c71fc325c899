# The module for two accounts: each provider alias assumes a role in its account, and the stacks are
# independent (each account gets its own bucket, role, function, schedule and alarms).

terraform {
  required_version = ">= 1.7"
  required_providers {
    rdsbackup = {
      source = "rdsbackup/rdsbackup"
    }
  }
}

variable "production_role_arn" {
  type    = string
  default = "arn:aws:iam::111111111111:role/rdsbackup-deployer"
}

variable "staging_role_arn" {
  type    = string
  default = "arn:aws:iam::222222222222:role/rdsbackup-deployer"
}

provider "rdsbackup" {
  alias = "production"
  assume_role {
    role_arn     = var.production_role_arn
    session_name = "rdsbackup-production"
  }
  default_tags = { environment = "production" }
}

provider "rdsbackup" {
  alias = "staging"
  assume_role {
    role_arn     = var.staging_role_arn
    session_name = "rdsbackup-staging"
  }
  default_tags = { environment = "staging" }
}

module "production" {
  source    = "../modules/rds-backup"
  providers = { rdsbackup = rdsbackup.production }

  name                    = "production"
  db_instance_identifiers = ["orders", "billing"]
  retention_days          = 35
  # Local endpoints answer plain HTTP only; on AWS keep the default (true).
  deny_insecure_transport = false
}

module "staging" {
  source    = "../modules/rds-backup"
  providers = { rdsbackup = rdsbackup.staging }

  name                    = "staging"
  db_instance_identifiers = ["orders"]
  retention_days          = 7
  min_snapshots           = 1
  deny_insecure_transport = false
}

output "production" {
  value = module.production
}

output "staging" {
  value = module.staging
}
