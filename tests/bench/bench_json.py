#!/usr/bin/python3
"""
The figures `make bench` writes to $(B)/bench.json, so that runs can be
compared by a script: the keys every run has and a check that each is
there with a number (a list of rows for the password grant).

  bench_json.py FILE    check FILE; exit 0, or 1 naming what is wrong.
"""
import json
import math
import sys

PASSWORD_C = (1, 2, 8, 32, 256)
# ratio: to the bound of each core timed alone (bound_rps);
# ratio_concurrent: to the bound with every core hashing at once; cpu_ms:
# the responders' CPU a login; busy_ms: every process's CPU a login;
# idle_pct: the cores' idle time during the row.  cpu_outside_crypto_ms:
# section 3's c = 2 row with the smallest hash, by perf's samples of the
# row (rowprofile.py) when perf is installed, else the crypto timed around
# the row subtracted; "cpu_outside_crypto" says which, with both figures
# and the parts.
PASSWORD_ROW = ("c", "rps", "bound_rps", "ratio", "bound_concurrent_rps",
                "ratio_concurrent", "shed", "p50_ms", "p99_ms", "cpu_ms",
                "busy_ms", "idle_pct")
SHAPE = {
    "bound_rps": None,
    "bound_concurrent_rps": None,
    "password": PASSWORD_ROW,
    "cpu_outside_crypto_ms": None,
    "refresh": ("null_ceiling_rps", "es256_rps", "es256_ratio",
                "es256_ceiling_rps", "rotating_rps", "rotating_ratio",
                "rotating_ceiling_rps", "es256_p99_ms", "rotating_p99_ms"),
    "cgi_overhead_ms": None,
    "pss_mib": None,
    "overload": ("c256_refusal_p99_ms", "c256_served_p99_ms", "budget_ms",
                 "hash_ms", "c256_honour_refusal_p99_ms",
                 "c256_honour_served_p99_ms", "c256_null_p99_ms",
                 "c256_refusal_p99_after_first_s_ms",
                 "c256_honour_refusal_p99_after_first_s_ms"),
}


def number(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v))


def problems(d):
    """What is missing or not a number in the figures d: a list."""
    out = []
    if not isinstance(d, dict):
        return ["not a JSON object"]
    for key, members in SHAPE.items():
        v = d.get(key)
        if members is None:
            if not number(v):
                out.append("%s: not a number: %r" % (key, v))
        elif key == "password":
            if not isinstance(v, list) or [r.get("c") if isinstance(r, dict)
                    else None for r in v] != list(PASSWORD_C):
                out.append("password: not rows for c = %s" % (PASSWORD_C,))
                continue
            out += ["password c=%s: %s: %r" % (r["c"], m, r.get(m))
                    for r in v for m in members if not number(r.get(m))]
        elif not isinstance(v, dict):
            out.append("%s: not an object" % key)
        else:
            out += ["%s.%s: not a number: %r" % (key, m, v.get(m))
                    for m in members if not number(v.get(m))]
    return out


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench_json.py FILE")
    with open(sys.argv[1]) as f:
        bad = problems(json.load(f))
    for p in bad:
        print("%s: %s" % (sys.argv[1], p), file=sys.stderr)
    if bad:
        sys.exit(1)
    print("%s: every key of the figures, each a number" % sys.argv[1])


if __name__ == "__main__":
    main()
