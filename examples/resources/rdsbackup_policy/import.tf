# Adopt an existing policy's stack by its name (Terraform 1.5+).
import {
  to = rdsbackup_policy.production
  id = "production"
}
