"""Differential test of profile resolution (issue 12): random profile graphs resolved by
botocore and by `vault exec`, both against the same moto STS, must make the same AssumeRole
calls from the same static key, or both refuse.

    resolution.py boto CASES_OUT MOTO_URL MOTO_LOG N SEED   generate N cases, resolve with botocore
    resolution.py compare CASES VAULT_RESULTS               print the figures; exit 1 on a mismatch

A case's static keys are in its credentials file for botocore and stored in the vault for
vault. vault's GetSessionToken in front of a chain is its documented design, so the key that
signed it stands for the key the chain starts from. Deliberate differences (README) are
counted by kind, never silently: a profile that only borrows its source's credentials
(source_profile without role_arn or a source of its own), and the region when neither the
profile nor the environment names one (vault takes the nearest source's).
"""

import json
import os
import random
import sys


def generate(rng, i):
    n = rng.randint(1, 4)
    names = [f"c{i}p{j}" for j in range(n)]
    profiles, keys = {}, {}
    for j, name in enumerate(names):
        p = {}
        if rng.random() < 0.6:
            p["role_arn"] = f"arn:aws:iam::123456789012:role/R{i}x{j}"
        if rng.random() < 0.65:
            p["source_profile"] = rng.choice(names)  # self-references and loops included
        if rng.random() < 0.45:
            keys[name] = f"AKIA{i:06d}{j:02d}DIFFTEST"[:20]
        if rng.random() < 0.05:
            p["credential_source"] = "Environment"
        if "role_arn" in p and rng.random() < 0.2:
            p["external_id"] = f"ext-{i}-{j}"
        if "role_arn" in p and rng.random() < 0.3:
            p["role_session_name"] = f"s-{i}-{j}"
        if rng.random() < 0.3:
            p["region"] = rng.choice(["eu-west-1", "ap-south-1"])
        profiles[name] = p
    return {
        "id": i,
        "profiles": profiles,
        "keys": keys,
        "profile": names[0],
        "env_region": rng.choice([None, None, "eu-central-1"]),
    }


def config_text(case):
    out = []
    for name, p in case["profiles"].items():
        out.append(f"[profile {name}]")
        out += [f"{k} = {v}" for k, v in p.items()]
    return "\n".join(out) + "\n"


def creds_text(case):
    out = []
    for name, key in case["keys"].items():
        out += [f"[{name}]", f"aws_access_key_id = {key}", "aws_secret_access_key = difftestsecret"]
    return "\n".join(out) + "\n"


def log_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def boto(out_path, url, log, n, seed):
    import boto3
    import botocore.session

    rng = random.Random(seed)
    cases = [generate(rng, i) for i in range(n)]
    workdir = os.path.dirname(out_path)
    os.environ.update(
        {"AWS_ENDPOINT_URL_STS": url, "AWS_EC2_METADATA_DISABLED": "true"}
    )
    for var in ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]:
        os.environ.pop(var, None)
    for case in cases:
        d = os.path.join(workdir, f"case{case['id']}")
        os.makedirs(d, exist_ok=True)
        case["config"] = os.path.join(d, "config")
        with open(case["config"], "w") as f:
            f.write(config_text(case))
        creds = os.path.join(d, "credentials")
        with open(creds, "w") as f:
            f.write(creds_text(case))
        os.environ["AWS_CONFIG_FILE"] = case["config"]
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = creds
        for var in ["AWS_REGION", "AWS_DEFAULT_REGION"]:
            if case["env_region"]:
                os.environ[var] = case["env_region"]
            else:
                os.environ.pop(var, None)
        # Where nothing names a region botocore refuses to guess; vault signs for us-east-1,
        # as the AWS CLI's global STS endpoint. Give botocore the same last resort.
        if not case["env_region"] and "region" not in case["profiles"][case["profile"]]:
            os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
        before = len(log_lines(log))
        try:
            session = boto3.Session(
                botocore_session=botocore.session.Session(), profile_name=case["profile"]
            )
            session.client("sts").get_caller_identity()
            case["boto"] = {"ok": True, "calls": log_lines(log)[before:]}
        except Exception as e:  # every refusal counts the same: no credentials
            case["boto"] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
    with open(out_path, "w") as f:
        json.dump(cases, f)


def borrows(case):
    """Whether the walk from the requested profile meets a profile that only borrows its
    source's credentials (source_profile, no role_arn, no key of its own)."""
    seen, name, first = set(), case["profile"], True
    while name in case["profiles"] and name not in seen:
        seen.add(name)
        p, has_key = case["profiles"][name], name in case["keys"]
        if not first and has_key:
            return False
        if "role_arn" in p:
            src = p.get("source_profile")
            if src is None or src == name:
                return False
            name, first = src, False
            continue
        if has_key:
            return False
        return "source_profile" in p and p["source_profile"] != name
    return False


def summary(case, calls, child_key):
    """(AssumeRole calls, the static key the chain starts from, the regions signed for)."""
    assumes = [c for c in calls if c.get("Action") == "AssumeRole"]
    roles = []
    for c in assumes:
        p = next(v for v in case["profiles"].values() if v.get("role_arn") == c["RoleArn"])
        roles.append(
            (
                c["RoleArn"],
                c.get("ExternalId"),
                c.get("RoleSessionName") if "role_session_name" in p else None,
            )
        )
    gst = [c for c in calls if c.get("Action") == "GetSessionToken"]
    ident = [c for c in calls if c.get("Action") == "GetCallerIdentity"]
    if gst:
        source = gst[0]["_AccessKeyId"]
    elif assumes:
        source = assumes[0]["_AccessKeyId"]
    elif ident:
        source = ident[0]["_AccessKeyId"]
    else:
        source = child_key
    # The regions signed for: the AssumeRole calls', else the first call's (botocore's
    # GetCallerIdentity, vault's GetSessionToken).
    signed = assumes or calls[:1]
    regions = sorted({c["_Region"] for c in signed})
    return roles, source, regions


def compare(cases_path, vault_path):
    with open(cases_path) as f:
        cases = json.load(f)
    with open(vault_path) as f:
        vault = {r["id"]: r for r in json.load(f)}
    agree = {"both ran the same chain": 0, "both refused": 0}
    deliberate = {"borrows its source's credentials": 0, "region from a source profile": 0}
    bad = []
    for case in cases:
        b, v = case["boto"], vault[case["id"]]
        if not b["ok"] and not v["ok"]:
            agree["both refused"] += 1
            continue
        if borrows(case) and v["ok"] and not b["ok"]:
            deliberate["borrows its source's credentials"] += 1
            continue
        if b["ok"] != v["ok"]:
            bad.append((case, b, v))
            continue
        broles, bsource, bregions = summary(case, b["calls"], None)
        vroles, vsource, vregions = summary(case, v["calls"], v.get("child_key"))
        if (broles, bsource) != (vroles, vsource):
            bad.append((case, b, v))
            continue
        named = case["env_region"] or case["profiles"][case["profile"]].get("region")
        if bregions != vregions:
            if named:
                bad.append((case, b, v))
                continue
            deliberate["region from a source profile"] += 1
            continue
        agree["both ran the same chain"] += 1
    print(f"configs: {len(cases)}")
    print(f"agreements: {agree}")
    print(f"deliberate differences: {deliberate}")
    print(f"disagreements: {len(bad)}")
    for case, b, v in bad[:10]:
        print("---- disagreement")
        print(config_text(case), end="")
        print(f"keys stored: {sorted(case['keys'])}; profile: {case['profile']}; AWS_REGION: {case['env_region']}")
        print(f"botocore: {json.dumps(b)[:600]}")
        print(f"vault:    {json.dumps(v)[:600]}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if sys.argv[1] == "boto":
        boto(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        compare(sys.argv[2], sys.argv[3])
