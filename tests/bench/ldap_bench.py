#!/usr/bin/python3
"""
make bench, section 9: the password grant at an AD/LDAP connection
(docs/COMPAT.md 14) against a real slapd (tests/e2e/slapd.py: StartTLS,
mdb, ppolicy), with the directory's own time measured in the same run:
slapd logs each operation's etime (-d stats), and a search-then-bind
login costs it two binds (the service account's and the user's) and a
search.  Runs alone too: B=build python3 tests/bench/ldap_bench.py.
"""
import json
import re
import shutil
import statistics
import sys
import tempfile
import urllib.parse
from pathlib import Path

import bench_lib

sys.path.insert(0, str(bench_lib.ROOT / "tests" / "e2e"))
import slapd as sl  # noqa: E402

CONN = "bench-ldap"
USER = "alice"
ETIME = re.compile(r"RESULT tag=(\d+) err=(\d+).* etime=([0-9.]+)")


def etimes(log, start):
    """{tag: [etime ms]} of the operations slapd logged after offset start
    (tag 97: bind, 101: search)."""
    out = {}
    with open(log, "rb") as f:
        f.seek(start)
        for line in f.read().decode(errors="replace").splitlines():
            m = ETIME.search(line)
            if m:
                out.setdefault(int(m.group(1)), []).append(float(m.group(3)) * 1e3)
    return out


def run(tmp, rows=(1, 8)):
    """The rows {c: result} and the directory's figures."""
    d = sl.Slapd(Path(tempfile.mkdtemp(dir=tmp, prefix="slapd-")), debug=256)
    srv = None
    try:
        home = Path(tmp) / "home-ldap"
        tf = Path(tmp) / "tenant-ldap.json"
        tf.write_text(json.dumps(bench_lib.tenant("http://127.0.0.1/", "RS256")))
        bench_lib.ctl(home, "import", str(tf))
        pw = tmp + "/svc.pw"
        Path(pw).write_text(sl.SERVICE_PW + "\n")
        bench_lib.ctl(home, "connection", "add", CONN, "--strategy", "ad",
            "--clients", bench_lib.CLIENT, "--ldap-url", d.url, "--ca-file",
            str(d.ca), "--bind-dn", sl.SERVICE_DN, "--bind-password-file", pw,
            "--base-dn", sl.PEOPLE)
        bench_lib.ctl(home, "tenant", "set", "default_directory", CONN)
        srv = bench_lib.Lighttpd(tmp, home, bench_lib.FCGI)
        form = {"grant_type": "password", "client_id": bench_lib.CLIENT,
            "client_secret": bench_lib.SECRET, "username": USER,
            "password": sl.USERS[USER][0], "audience": bench_lib.API,
            "scope": "openid"}
        st, body = bench_lib.post(srv.base, "/oauth/token", form)
        assert st == 200 and "id_token" in body, (st, body)
        out = {}
        for c in rows:
            start = (d.dir / "slapd.log").stat().st_size
            cpu0 = srv.cpu()
            r = bench_lib.wrk(tmp, srv.base + "/oauth/token",
                [urllib.parse.urlencode(form)], c)
            r["cpu_ms"] = (srv.cpu() - cpu0) * 1e3 / max(1,
                r["requests"] - r["non2xx"])
            e = etimes(d.dir / "slapd.log", start)
            binds, searches = e.get(97, []), e.get(101, [])
            r["binds"], r["searches"] = len(binds), len(searches)
            r["bind_ms"] = statistics.median(binds) if binds else 0.0
            r["search_ms"] = statistics.median(searches) if searches else 0.0
            r["dir_ms"] = 2 * r["bind_ms"] + r["search_ms"]
            out[c] = r
        return out
    finally:
        if srv is not None:
            srv.stop()
        d.stop()


def table(rows):
    lines = ["9. password grant at an ad connection (slapd, StartTLS kept,"
        " search-then-bind: 2 binds + 1 search a login)",
        "   %4s %9s %9s %9s %10s %10s %10s %12s %6s" % ("c", "ok req/s",
        "p50 ms", "p99 ms", "bind ms", "search ms", "dir/login", "latchkey",
        "non2xx")]
    for c, r in rows.items():
        lines.append("   %4d %9.1f %9.2f %9.2f %10.3f %10.3f %10.3f %12.2f %6d" % (
            c, r["ok_rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["bind_ms"],
            r["search_ms"], r["dir_ms"], r["cpu_ms"], r["non2xx"]))
    lines.append("   (bind, search: slapd's median etime of the run; dir/login:"
        " 2 binds + 1 search, the directory's own time per login;"
        " latchkey: responder CPU ms per login)")
    return lines


def main():
    tmp = tempfile.mkdtemp(prefix="latchkey-ldapbench-")
    try:
        print("\n".join(table(run(tmp))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
