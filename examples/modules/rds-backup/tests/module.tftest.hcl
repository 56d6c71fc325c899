# `terraform test` for the module, run by the project's test suite against the local endpoint (moto).

variables {
  name                    = "tftest"
  db_instance_identifiers = ["orders"]
}

run "plan_derives_every_name" {
  command = plan

  assert {
    condition     = rdsbackup_policy.this.function_name == "rdsbackup-tftest"
    error_message = "the function is named after the policy"
  }

  assert {
    condition     = rdsbackup_policy.this.log_group_name == "/aws/lambda/rdsbackup-tftest"
    error_message = "the log group is the function's"
  }

  assert {
    condition     = rdsbackup_policy.this.tags_all["backup-policy"] == "tftest"
    error_message = "the module's tags reach tags_all"
  }
}

run "copies_add_a_region_and_its_alarm" {
  command = plan

  variables {
    copies = [{ region = "us-west-2", retention_days = 90 }]
  }

  assert {
    condition     = contains(rdsbackup_policy.this.alarm_names, "rdsbackup-tftest-copy-overdue-us-west-2")
    error_message = "each copy block has its overdue alarm"
  }

  assert {
    condition     = rdsbackup_policy.this.copy[0].retention_days == 90 && rdsbackup_policy.this.copy[0].min_snapshots == null
    error_message = "a copy block keeps what it sets and inherits the rest"
  }
}

run "apply_builds_the_stack" {
  command = apply

  assert {
    condition     = output.bucket_name == "rdsbackup-tftest-${output.account_id}"
    error_message = "the default bucket name is rdsbackup-<name>-<account>"
  }

  assert {
    condition     = length(output.alarm_names) == 2
    error_message = "two alarms: errors and backup overdue"
  }

  assert {
    condition     = length(rdsbackup_policy.this.drift) == 0
    error_message = "a fresh stack has no drift"
  }
}

run "update_in_place_keeps_the_function" {
  command = apply

  variables {
    schedule       = "rate(12 hours)"
    retention_days = 14
  }

  assert {
    condition     = rdsbackup_policy.this.schedule == "rate(12 hours)"
    error_message = "the schedule is updated"
  }

  assert {
    condition     = output.function_arn == run.apply_builds_the_stack.function_arn
    error_message = "an update keeps the same function"
  }
}
