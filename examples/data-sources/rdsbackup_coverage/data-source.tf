# Fail the plan when a database of the region is backed up by no policy (scratch databases excepted).
data "rdsbackup_coverage" "region" {
  exclude_tags = { scratch = "true" }
}

check "every_database_is_backed_up" {
  assert {
    condition     = length(data.rdsbackup_coverage.region.unprotected) == 0
    error_message = "Not backed up by any rdsbackup policy: ${join(", ", data.rdsbackup_coverage.region.unprotected)}"
  }
}
