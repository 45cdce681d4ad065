#!/usr/bin/python3
"""
make bench, section 11: the store backends.  The same tenant on Berkeley
DB (a home) and on PostgreSQL (a throw-away cluster of
tests/pg/pgcluster.py on 127.0.0.1, fsync on, synchronous_commit on, no
standby), served by lighttpd with BENCH_PROCS responders:

  - the password grant (c = 2) and the rotating refresh grant (c = 8:
    each 200's new token goes back into the pool) on each backend;
  - the rotating refresh grant on PostgreSQL through one web server,
    then through two at once (two lighttpd on their own ports, one wrk
    each, the same database): their sum.

Every server runs on this machine, so two web servers share its cores
with each other and with PostgreSQL: on a small machine the second one
shows the database's headroom, not a second machine's.  Runs alone
too: BENCH_ONLY=pg make bench, or B=build python3 tests/bench/pg_bench.py.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path

import bench_lib

sys.path.insert(0, str(bench_lib.ROOT / "tests" / "pg"))
import pgcluster  # noqa: E402

PW_CONC = 2
RF_CONC = 8
DB = "latchkey_bench"


def pw_body():
    return urllib.parse.urlencode({"grant_type": "password",
        "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
        "username": bench_lib.USER, "password": bench_lib.PW, "audience": bench_lib.API})


def rotate(tmp, srv, conc, seconds=bench_lib.SECONDS):
    """The rotating refresh grant at srv (BENCH_MODE=rotate)."""
    toks = bench_lib.refresh_tokens(srv.base, bench_lib.CLIENT, bench_lib.SECRET, n=conc * 2)
    prefix = urllib.parse.urlencode({"grant_type": "refresh_token",
        "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET}) + \
        "&refresh_token="
    cpu0 = srv.cpu()
    r = bench_lib.wrk(tmp, srv.base + "/oauth/token", toks, conc, seconds,
        mode="rotate", prefix=prefix)
    r["cpu_ms"] = (srv.cpu() - cpu0) * 1e3 / max(1, r["requests"])
    return r


def grants(tmp, srv):
    """{row: result} of the password and rotating refresh grants."""
    cpu0 = srv.cpu()
    pw = bench_lib.wrk(tmp, srv.base + "/oauth/token", [pw_body()], PW_CONC)
    pw["cpu_ms"] = (srv.cpu() - cpu0) * 1e3 / max(1, pw["requests"])
    return {"password c=%d" % PW_CONC: pw,
        "refresh rotating c=%d" % RF_CONC: rotate(tmp, srv, RF_CONC)}


def two(tmp, servers):
    """The rotating refresh grant at every server at once."""
    out = [None] * len(servers)
    errs = []

    def one(i):
        try:
            out[i] = rotate(tmp, servers[i], RF_CONC)
        except BaseException as e:	# wrk's SystemExit too: a thread
            errs.append(e)		# would drop it silently
    threads = [threading.Thread(target=one, args=(i,))
        for i in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errs:
        raise SystemExit("bench: a web server's run failed: %s" % errs[0])
    return out


def run(tmp):
    """The section's rows: (label, result), and the web-server scaling."""
    t = bench_lib.tenant("http://127.0.0.1/", "ES256")
    tf = Path(tmp) / "tenant-pg.json"
    tf.write_text(json.dumps(t))
    home = Path(tmp) / "home-bdb"
    bench_lib.ctl(home, "import", str(tf))
    rows, servers = [], []
    cluster = pgcluster.PgCluster()
    try:
        srv = bench_lib.Lighttpd(tmp, home, bench_lib.FCGI)
        servers.append(srv)
        rows += [("Berkeley DB " + k, r) for k, r in grants(tmp, srv).items()]
        srv.stop()
        cluster.start()
        cluster.createdb(DB)
        conninfo = cluster.conninfo(DB)
        subprocess.run([str(bench_lib.CTL), "-D", conninfo, "import",
            str(tf)], check=True, capture_output=True)
        webs = []
        for i in (1, 2):
            h = Path(tmp) / ("home-pg%d" % i)
            h.mkdir(mode=0o700)
            webs.append(bench_lib.Lighttpd(tmp, h, bench_lib.FCGI, database=conninfo))
            servers.append(webs[-1])
        rows += [("PostgreSQL " + k, r) for k, r in grants(tmp, webs[0]).items()]
        one = rotate(tmp, webs[0], RF_CONC)
        both = two(tmp, webs)
        return rows, one, both
    finally:
        for s in servers:
            s.stop()
        cluster.cleanup()


def table(res):
    rows, one, both = res
    out = ["11. store backends: Berkeley DB and PostgreSQL (%d responders"
        " per web server, %d s per run, ES256)" % (bench_lib.PROCS, bench_lib.SECONDS)]
    for label, r in rows:
        out.append("   %-40s %7.1f req/s  p50 %6.1f ms  p99 %6.1f ms  non-2xx"
            " %d  cpu/req %.2f ms" % (label, r["ok_rps"], r["p50_us"] / 1e3,
            r["p99_us"] / 1e3, r["non2xx"], r["cpu_ms"]))
    out.append("   PostgreSQL refresh rotating c=%d, one web server:  %7.1f"
        " req/s" % (RF_CONC, one["ok_rps"]))
    out.append("   PostgreSQL refresh rotating c=%d each, two web servers:"
        " %7.1f req/s (%s)" % (RF_CONC, sum(r["ok_rps"] for r in both),
        " + ".join("%.1f" % r["ok_rps"] for r in both)))
    out.append("   (one machine of %d cores runs the web servers, their"
        " responders and PostgreSQL)" % bench_lib.CORES)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-pg-")
    os.chmod(tmp, 0o755)
    try:
        print("\n".join(table(run(tmp))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
