terraform {
  required_version = ">= 1.7"
  required_providers {
    rdsbackup = {
      source  = "rdsbackup/rdsbackup"
      version = ">= 0.1"
    }
  }
}
