# A vault is imported by its name; the whole stack is read back from AWS.
terraform import rdsbackup_vault.central central
