terraform {
  required_providers {
    rdsbackup = {
      source = "rdsbackup/rdsbackup"
    }
  }
}

# Credentials come from the standard AWS chain; region from here or AWS_REGION.
provider "rdsbackup" {
  region = "eu-west-1"

  default_tags = {
    owner = "platform-team"
  }
}
