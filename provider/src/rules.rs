//! What AWS and the contract allow in each user-supplied string, checked at `terraform validate` time so that
//! bad input never reaches AWS halfway through an apply. Each check returns the sentence the user reads.

pub type Check = Result<(), String>;

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `^[a-z][a-z0-9-]{0,30}[a-z0-9]$` without `--`: it prefixes every AWS name the policy creates.
pub fn policy_name(name: &str) -> Check {
    let max = rdsbackup_common::identifier::POLICY_NAME_MAX;
    let allowed = format!(
        "2 to {max} characters (a DB cluster snapshot identifier, at most 63 characters, carries it): lowercase \
         letters, digits and single hyphens, starting with a letter and ending with a letter or digit"
    );
    let ok = (2..=max).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(lower_alnum)
        && name.chars().all(|c| lower_alnum(c) || c == '-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid policy name: use {allowed}."))
    }
}

/// S3 general purpose bucket naming rules.
pub fn bucket_name(name: &str) -> Check {
    let problem = if !(3..=63).contains(&name.len()) {
        Some("must be 3 to 63 characters long")
    } else if !name.chars().all(|c| lower_alnum(c) || c == '-' || c == '.') {
        Some("may contain only lowercase letters, digits, hyphens and dots")
    } else if !name.starts_with(lower_alnum) || !name.ends_with(lower_alnum) {
        Some("must begin and end with a letter or digit")
    } else if name.contains("..") || name.contains(".-") || name.contains("-.") {
        Some("must not contain two adjacent dots or a dot next to a hyphen")
    } else if name.split('.').count() == 4 && name.split('.').all(|part| part.parse::<u8>().is_ok()) {
        Some("must not be formatted as an IP address")
    } else if ["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| name.starts_with(p)) {
        Some("must not start with the reserved prefixes xn--, sthree- or amzn-s3-demo-")
    } else if ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        Some("must not end with the reserved suffixes -s3alias, --ol-s3, --x-s3, --table-s3 or .mrap")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("{name:?} is not a valid S3 bucket name: it {problem}.")),
        None => Ok(()),
    }
}

/// RDS DB instance and cluster identifiers: 1 to 63 letters, digits or hyphens, starting with a letter, with no
/// trailing or doubled hyphen. RDS stores them in lowercase, and so must the configuration, or every plan would
/// show a difference.
pub fn db_identifier(id: &str) -> Check {
    let ok = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| lower_alnum(c) || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a valid DB identifier: use 1 to 63 lowercase letters, digits or hyphens, starting with a \
             letter, with no two consecutive hyphens and no hyphen at the end."
        ))
    }
}

/// An RDS DB instance class: `db.<family>.<size>` (`db.t3.medium`, `db.r6g.2xlarge`), or `db.serverless` for
/// Aurora Serverless v2.
pub fn instance_class(class: &str) -> Check {
    let part = |p: &str| !p.is_empty() && p.chars().all(lower_alnum);
    let ok = class == "db.serverless"
        || class
            .strip_prefix("db.")
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(family, size)| part(family) && part(size));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{class:?} is not a DB instance class: use db.<family>.<size>, such as db.t3.medium, or db.serverless."
        ))
    }
}

/// A DB subnet group name: up to 255 letters, digits, periods, underscores, spaces or hyphens (RDS stores it in
/// lowercase, so must the configuration).
pub fn subnet_group_name(name: &str) -> Check {
    let ok = (1..=255).contains(&name.len()) && name.chars().all(|c| lower_alnum(c) || ". _-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a DB subnet group name: use up to 255 lowercase letters, digits, periods, underscores, \
             spaces or hyphens."
        ))
    }
}

/// A VPC security group id: `sg-` and 8 or 17 hexadecimal digits.
pub fn security_group_id(id: &str) -> Check {
    let ok = id.strip_prefix("sg-").is_some_and(|hex| {
        [8, 17].contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a VPC security group id: use sg- and 8 or 17 hexadecimal digits."
        ))
    }
}

/// Splits `arn:partition:service:region:account:resource`, checking the parts every ARN shares.
fn arn_parts(arn: &str) -> Option<[&str; 6]> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.try_into().ok()?;
    let ok = prefix == "arn"
        && matches!(
            partition,
            "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-iso-e" | "aws-iso-f" | "aws-eusc"
        )
        && (account.is_empty() || (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())))
        && (region.is_empty() || self::region(region).is_ok());
    ok.then_some([prefix, partition, service, region, account, resource])
}

/// The region an ARN names, if it is a well-formed ARN of `service` in a region.
pub fn arn_region<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    arn_parts(arn)
        .filter(|p| p[2] == service && !p[3].is_empty())
        .map(|p| p[3])
}

/// The account an ARN names, when it names one.
pub fn arn_account<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    arn_parts(arn)
        .filter(|p| p[2] == service && !p[4].is_empty())
        .map(|p| p[4])
}

/// An AWS account id: twelve digits.
pub fn account_id(id: &str) -> Check {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("{id:?} is not an AWS account id: use the account's 12 digits."))
    }
}

/// A KMS key ARN or key alias ARN in a region (S3 and CloudWatch Logs need the full ARN, not a bare key id).
pub fn kms_key_arn(arn: &str) -> Check {
    let ok = arn_parts(arn).is_some_and(|[_, _, service, region, account, resource]| {
        service == "kms"
            && !region.is_empty()
            && !account.is_empty()
            && (resource
                .strip_prefix("key/")
                .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
                || resource.strip_prefix("alias/").is_some_and(|a| !a.is_empty()))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not a KMS key ARN: use arn:aws:kms:<region>:<account id>:key/<key id> (or :alias/<name>)."
        ))
    }
}

pub fn sns_topic_arn(arn: &str) -> Check {
    let ok = arn_parts(arn).is_some_and(|[_, _, service, region, account, resource]| {
        service == "sns"
            && !region.is_empty()
            && !account.is_empty()
            && (1..=256).contains(&resource.len())
            && resource
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not an SNS topic ARN: use arn:aws:sns:<region>:<account id>:<topic name>."
        ))
    }
}

pub fn iam_role_arn(arn: &str) -> Check {
    let ok = arn_parts(arn).is_some_and(|[_, _, service, region, account, resource]| {
        service == "iam"
            && region.is_empty()
            && !account.is_empty()
            && resource.strip_prefix("role/").is_some_and(|path| {
                !path.is_empty()
                    && path
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
            })
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not an IAM role ARN: use arn:aws:iam::<account id>:role/<name>."
        ))
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, ...
pub fn region(region: &str) -> Check {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{region:?} is not an AWS region name such as us-east-1 or eu-west-3."
        ))
    }
}

pub fn endpoint_url(url: &str) -> Check {
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!(
            "{url:?} is not an endpoint URL: use http://host[:port] or https://host[:port]."
        )),
    }
}

/// AWS tag rules common to S3, IAM, Lambda, Logs, EventBridge, CloudWatch and SNS. `aws:` is reserved by AWS,
/// `rdsbackup:` by this provider, which marks what it owns with it.
pub fn tag_key(key: &str) -> Check {
    if key.is_empty() || key.chars().count() > 128 {
        Err(format!("tag key {key:?} must be 1 to 128 characters long."))
    } else if key.to_ascii_lowercase().starts_with("aws:") {
        Err(format!("tag key {key:?} uses the prefix aws:, which AWS reserves."))
    } else if key.starts_with("rdsbackup:") {
        Err(format!(
            "tag key {key:?} uses the prefix rdsbackup:, which the provider reserves for what it owns."
        ))
    } else if !key.chars().all(tag_char) {
        Err(format!(
            "tag key {key:?} may contain only letters, digits, spaces and _ . : / = + - @."
        ))
    } else {
        Ok(())
    }
}

pub fn tag_value(key: &str, value: &str) -> Check {
    if value.chars().count() > 256 {
        Err(format!("the value of tag {key:?} must be at most 256 characters long."))
    } else if !value.chars().all(tag_char) {
        Err(format!(
            "the value of tag {key:?} may contain only letters, digits, spaces and _ . : / = + - @."
        ))
    } else {
        Ok(())
    }
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names() {
        for ok in ["ab", "nightly", "prod-db-2", "a1", &format!("a{}", "b".repeat(23))] {
            assert!(policy_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "1ab",
            "Prod",
            "ab-",
            "a--b",
            "a_b",
            "",
            &format!("a{}", "b".repeat(24)),
        ] {
            let message = policy_name(bad).unwrap_err();
            assert!(message.contains("lowercase letters"), "{bad}: {message}");
        }
    }

    #[test]
    fn bucket_names() {
        for ok in ["rdsbackup-prod-123456789012", "my.bucket.name", "abc"] {
            assert!(bucket_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("ab", "3 to 63"),
            ("My-Bucket", "lowercase"),
            ("-abc", "begin and end"),
            ("a..b", "adjacent"),
            ("192.168.5.4", "IP address"),
            ("xn--abc", "reserved prefixes"),
            ("abc-s3alias", "reserved suffixes"),
        ] {
            let message = bucket_name(bad).unwrap_err();
            assert!(message.contains(why), "{bad}: {message}");
        }
    }

    #[test]
    fn db_identifiers() {
        for ok in ["orders", "orders-db-1", "a"] {
            assert!(db_identifier(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1db", "db-", "db--1", "db_1", "Orders", &"a".repeat(64)] {
            assert!(db_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arns() {
        assert!(kms_key_arn("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab").is_ok());
        assert!(kms_key_arn("arn:aws:kms:eu-west-1:123456789012:alias/backups").is_ok());
        assert!(kms_key_arn("1234abcd-12ab-34cd-56ef-1234567890ab").is_err());
        assert!(kms_key_arn("arn:aws:kms:eu-west-1:12345:key/abc").is_err());
        assert!(kms_key_arn("arn:aws:s3:::bucket").is_err());
        assert!(sns_topic_arn("arn:aws:sns:us-east-1:123456789012:alerts").is_ok());
        assert!(sns_topic_arn("arn:aws:sns:us-east-1:123456789012:").is_err());
        assert!(iam_role_arn("arn:aws:iam::222222222222:role/deploy").is_ok());
        assert!(iam_role_arn("arn:aws:iam::222222222222:user/deploy").is_err());
        assert!(iam_role_arn("arn:aws-us-gov:iam::222222222222:role/path/deploy").is_ok());
        assert_eq!(
            arn_region("arn:aws:kms:eu-west-1:123456789012:key/abc", "kms"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("arn:aws:kms:eu-west-1:123456789012:key/abc", "sns"), None);
    }

    #[test]
    fn drill_arguments() {
        for ok in ["db.t3.medium", "db.r6g.2xlarge", "db.serverless"] {
            assert!(instance_class(ok).is_ok(), "{ok}");
        }
        for bad in ["t3.medium", "db.t3", "db..medium", "DB.T3.MEDIUM"] {
            assert!(instance_class(bad).unwrap_err().contains("db.<family>.<size>"), "{bad}");
        }
        assert!(subnet_group_name("private-db").is_ok());
        assert!(subnet_group_name("Private").is_err());
        assert!(security_group_id("sg-0123abcd").is_ok());
        assert!(security_group_id("sg-0123456789abcdef0").is_ok());
        assert!(security_group_id("sg-123").is_err());
        assert!(security_group_id("0123abcd").is_err());
    }

    #[test]
    fn regions_endpoints_and_tags() {
        for ok in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-4"] {
            assert!(region(ok).is_ok(), "{ok}");
        }
        for bad in ["us-east", "US-EAST-1", "useast1", "us-east-x"] {
            assert!(region(bad).is_err(), "{bad}");
        }
        assert!(endpoint_url("http://127.0.0.1:5000").is_ok());
        assert!(endpoint_url("https://s3.eu-west-1.amazonaws.com").is_ok());
        assert!(endpoint_url("127.0.0.1:5000").is_err());
        assert!(endpoint_url("http://").is_err());
        assert!(tag_key("team").is_ok());
        assert!(tag_key("aws:cloudformation").unwrap_err().contains("aws:"));
        assert!(tag_key("rdsbackup:policy").unwrap_err().contains("reserves"));
        assert!(tag_key("").is_err());
        assert!(tag_value("team", "data platform").is_ok());
        assert!(tag_value("team", &"x".repeat(257)).is_err());
        assert!(tag_value("team", "a;b").is_err());
    }
}
