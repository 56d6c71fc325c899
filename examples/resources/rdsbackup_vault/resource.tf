# In the vault account: its own key, and the vault that takes in what two workload accounts share.
resource "aws_kms_key" "vault" {
  description         = "rdsbackup vault copies"
  enable_key_rotation = true
}

resource "rdsbackup_vault" "central" {
  name               = "central"
  source_account_ids = ["111111111111", "222222222222"]
  kms_key_arn        = aws_kms_key.vault.arn
  retention_days     = 365
  min_snapshots      = 7
}

# In each workload account, the policy shares its snapshots with the vault:
#
#   resource "rdsbackup_policy" "production" {
#     ...
#     vault {
#       account_id  = "<the vault's account_id>"
#       kms_key_arn = "<a key of this account the vault account may use>"
#     }
#   }
