# The module for two accounts: each provider alias assumes a role in its account, and the stacks are
# independent (each account gets its own bucket, role, function, schedule and alarms). With the vault's keys set,
# a third account holds a vault: both accounts share every new snapshot with it, and it keeps a copy of each
# under its own key, where neither account's credentials can delete it.

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

variable "vault_role_arn" {
  type    = string
  default = "arn:aws:iam::333333333333:role/rdsbackup-deployer"
}

variable "vault_kms_key_arn" {
  description = "The vault account's own key for its copies and records; null: no vault."
  type        = string
  default     = null
}

variable "production_vault_key_arn" {
  description = "A key of the production account whose key policy lets the vault account use it (kms:CreateGrant, kms:Decrypt, kms:DescribeKey)."
  type        = string
  default     = null
}

variable "staging_vault_key_arn" {
  description = "The same for the staging account."
  type        = string
  default     = null
}

locals {
  # Account ids from the role ARNs: known before anything exists, and no dependency cycle between the vault
  # (which lists its sources) and the sources (which name the vault).
  account_of = { for alias, arn in {
    production = var.production_role_arn
    staging    = var.staging_role_arn
    vault      = var.vault_role_arn
  } : alias => split(":", arn)[4] }
  vault = var.vault_kms_key_arn != null
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

provider "rdsbackup" {
  alias = "vault"
  assume_role {
    role_arn     = var.vault_role_arn
    session_name = "rdsbackup-vault"
  }
}

resource "rdsbackup_vault" "central" {
  count    = local.vault ? 1 : 0
  provider = rdsbackup.vault

  name               = "central"
  source_account_ids = [local.account_of.production, local.account_of.staging]
  kms_key_arn        = var.vault_kms_key_arn
  retention_days     = 365
  # Local endpoints answer plain HTTP only; on AWS keep the default (true).
  deny_insecure_transport = false
}

module "production" {
  source    = "../modules/rds-backup"
  providers = { rdsbackup = rdsbackup.production }

  name                    = "production"
  db_instance_identifiers = ["orders", "billing"]
  retention_days          = 35
  # Local endpoints answer plain HTTP only; on AWS keep the default (true).
  deny_insecure_transport = false
  vault                   = local.vault ? { account_id = local.account_of.vault, kms_key_arn = var.production_vault_key_arn } : null
}

module "staging" {
  source    = "../modules/rds-backup"
  providers = { rdsbackup = rdsbackup.staging }

  name                    = "staging"
  db_instance_identifiers = ["orders"]
  retention_days          = 7
  min_snapshots           = 1
  deny_insecure_transport = false
  vault                   = local.vault ? { account_id = local.account_of.vault, kms_key_arn = var.staging_vault_key_arn } : null
}

output "production" {
  value = module.production
}

output "staging" {
  value = module.staging
}

output "vault" {
  value = local.vault ? {
    account_id    = rdsbackup_vault.central[0].account_id
    bucket_name   = rdsbackup_vault.central[0].bucket_name
    alarm_names   = rdsbackup_vault.central[0].alarm_names
    function_name = rdsbackup_vault.central[0].function_name
  } : null
}
