# Adopt an existing vault's stack by its name (Terraform 1.5+).
import {
  to = rdsbackup_vault.central
  id = "central"
}
