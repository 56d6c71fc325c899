"""Lints IAM policy documents (files named on the command line) with parliament's Python API, and prints the
findings left as one JSON object {file: [finding...]}; exits 1 when any is left. Two classes of parliament's
findings are false positives for every policy and are dropped here, each only where it is one: condition keys
that AWS lists on the action's resource types rather than on the action (parliament issue #145), and resources
that an action needs split across statements (issue #3). RESOURCE_STAR is style: the role's describe calls
cannot be scoped, which the provider's own tests check."""
import json, sys, re
import parliament
from parliament import analyze_policy_string, enhance_finding, is_arn_match
from parliament.statement import get_privilege_info, is_condition_key_match

def resource_condition_ok(detail):
    # "Unknown condition K for action svc:Act" -> accept K if it is listed on a resource type the action uses
    m = re.fullmatch(r"Unknown condition (\S+) for action (\w[\w-]*):(\w+)", detail)
    if not m: return False
    key, svc, act = m.groups()
    info = get_privilege_info(svc, act)
    used = {rt["resource_type"].rstrip("*") for rt in info["resource_types"]}
    return any(is_condition_key_match(ck, key)
               for r in info["service_resources"] if r["resource"] in used
               for ck in r.get("condition_keys", []))

def covered_elsewhere(policy_json, action, required_format):
    # true if some Allow statement containing the action has a Resource matching the required ARN format
    svc, act = action.split(":")
    for st in policy_json["Statement"]:
        acts = st.get("Action", []); acts = [acts] if isinstance(acts, str) else acts
        res = st.get("Resource", []); res = [res] if isinstance(res, str) else res
        if st.get("Effect") == "Allow" and any(re.fullmatch(a.replace("*", ".*"), action, re.I) for a in acts):
            if any(r == "*" or is_arn_match("", required_format, r) for r in res):
                return True
    return False

def lint(text, ignore=("RESOURCE_STAR",)):
    pj = json.loads(text)
    out = []
    for f in analyze_policy_string(text).findings:
        f = enhance_finding(f)
        if f.issue in ignore: continue
        if f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and resource_condition_ok(f.detail): continue
        if f.issue == "RESOURCE_MISMATCH":
            f.detail = [d for d in f.detail if not covered_elsewhere(pj, d["action"], d["required_format"])]
            if not f.detail: continue
        out.append({"issue": f.issue, "severity": f.severity, "detail": f.detail, "location": f.location})
    return out

if __name__ == "__main__":
    found = {path: lint(open(path).read()) for path in sys.argv[1:]}
    print(json.dumps(found, default=str))
    sys.exit(1 if any(found.values()) else 0)
