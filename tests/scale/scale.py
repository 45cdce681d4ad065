#!/usr/bin/python3
"""
make scale: latchkey with a production's worth of data on this machine.

1. Builds a home of SCALE_USERS users (default 1,000,000) and about
   5 x SCALE_USERS refresh tokens with tests/scale/scaleload (two loader
   processes, the responder's own store code, DB_TXN_NOSYNC while
   loading): every user has one live family rotated 3 times (4 tokens),
   and the first quarter of them also an expired family of 4 tokens,
   issued 40 days ago: what `token prune` removes.
2. Reports the size on disk per user and per refresh token.
3. Times every admin command on that home (each with a timeout).
4. Runs a mixed load through lighttpd (password logins of random users
   and rotating refresh chains) idle, then again while `latchkeyctl token
   prune` removes the expired families, and compares the p99 latencies.
5. Runs db5.3_verify on every database.

Figures go to stdout as a table and to $B/scale.json.  Settings
(environment): B (build dir), SCALE_USERS, SCALE_HOME (keep the home
there and reuse it when it is already loaded), SCALE_SECONDS (idle load
phase, default 20), SCALE_TIMEOUT (per admin command, default 900 s).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import http.client
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bench"))
import bench_lib  # noqa: E402  (Lighttpd, pct, remove_slot_memory)

B = bench_lib.B
CTL = B / "db" / "latchkeyctl"
LOADER = B / "tests" / "scale" / "scaleload"
USERS = int(os.environ.get("SCALE_USERS", "1000000"))
SECONDS = int(os.environ.get("SCALE_SECONDS", "20"))
TIMEOUT = int(os.environ.get("SCALE_TIMEOUT", "900"))
ROTATIONS = 3
DEAD = USERS // 4
CONN = "Username-Password-Authentication"
CLIENT, SECRET = "scale-app", "scale-app-secret-Tq7Wm2Xc9Lp4Rz6Y"
API = "https://api.scale.latchkey/"
PW = "scale password: Vb3Nm6Qw9Er2"
LOGIN_THREADS, REFRESH_THREADS = 2, 2


def tenant_doc(issuer):
    return {
        "tenant": {"issuer": issuer, "alg": "ES256", "default_directory": CONN,
                   "hash": {"t": 2, "m": 19456, "p": 1},
                   "rate_limit": {"enabled": False},
                   "suspicious_ip": {"enabled": False}},
        "connections": [{"name": CONN, "strategy": "auth0",
                         "enabled_clients": [CLIENT]}],
        "clients": [{"name": "Scale", "client_id": CLIENT,
                     "client_secret": SECRET, "app_type": "regular_web",
                     "token_endpoint_auth_method": "client_secret_post",
                     "grant_types": ["password", "refresh_token"],
                     "refresh_token": {"rotation_type": "rotating"}}],
        "apis": [{"identifier": API, "name": "Scale API",
                  "scopes": ["read:things"], "token_lifetime": 3600,
                  "allow_offline_access": True}],
    }


def uid(i):
    return "auth0|scale%08d" % i


def email(i):
    return "u%07d@scale.example" % i


def ctl(home, *args, stdin=None, timeout=TIMEOUT):
    """(exit status, seconds, stdout bytes, stderr tail)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([str(CTL), "-d", str(home), *args], input=stdin,
            capture_output=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", e.stderr or b""
    return rc, time.monotonic() - t0, len(out), err.decode(errors="replace")[-300:]


def loaders(home, flag, first, count, extra=(), procs=1):
    """Run scaleload over [first, first + count) split across procs (one
    by default: two loaders collide on the same B-tree pages and, with the
    deadlock retries, load slower together than one alone)."""
    base = [str(LOADER), "-d", str(home), "-c", CLIENT, "-C", CONN,
            "-a", API, "-p", PW, *extra]
    step = (count + procs - 1) // procs
    ps = []
    for k in range(procs):
        lo = first + k * step
        n = max(0, min(step, first + count - lo))
        if n:
            ps.append(subprocess.Popen(base + [flag, "%d:%d" % (lo, n)]))
    for p in ps:
        if p.wait() != 0:
            raise SystemExit("scale: scaleload failed (%s)" % flag)


def build(home, tokens):
    """Load the home; returns the load figures."""
    home.mkdir(parents=True, exist_ok=True)
    doc = home.parent / "scale-tenant.json"
    doc.write_text(json.dumps(tenant_doc("http://127.0.0.1:1/")))
    subprocess.run([str(CTL), "-d", str(home), "import", str(doc)],
        check=True, capture_output=True)
    # No fsync per commit while loading (Berkeley DB reads DB_CONFIG at
    # every open); removed before anything is measured.
    (home / "DB_CONFIG").write_text("set_flags DB_TXN_NOSYNC\n")
    fig = {}
    t0 = time.monotonic()
    loaders(home, "-u", 0, USERS)
    fig["users_s"] = time.monotonic() - t0
    t0 = time.monotonic()
    every = max(1, USERS // 2000)
    loaders(home, "-f", 0, USERS, ["-r", str(ROTATIONS), "-o", str(tokens),
        "-k", str(every)])
    loaders(home, "-x", 0, DEAD, ["-r", str(ROTATIONS)])
    fig["tokens_s"] = time.monotonic() - t0
    (home / "DB_CONFIG").unlink()
    # A checkpoint makes the load durable and trims the log.
    subprocess.run(["db5.3_checkpoint", "-1", "-h", str(home)], check=True)
    (home / "loaded").write_text(json.dumps(fig))
    return fig


def sizes(home):
    size = {p.name: p.stat().st_size for p in home.glob("*.db")}
    tokens = USERS * (ROTATIONS + 1) + DEAD * (ROTATIONS + 1)
    return {
        "files_mib": {k: round(v / 2**20, 1) for k, v in sorted(size.items())},
        "total_mib": round(sum(size.values()) / 2**20, 1),
        "bytes_per_user": round((size.get("users.db", 0) +
            size.get("useridx.db", 0)) / USERS),
        "bytes_per_token": round(size.get("refresh.db", 0) / tokens),
        "tokens": tokens, "families": USERS + DEAD,
    }


class Load:
    """Logins of random users and rotating refresh chains, each request's
    (start, seconds, kind, status) recorded."""

    def __init__(self, port, chains):
        self.port, self.chains = port, chains
        self.rows, self.lock = [], threading.Lock()
        self.stop = threading.Event()
        self.threads = []

    def request(self, conn, form):
        body = urllib.parse.urlencode(form)
        conn.request("POST", "/oauth/token", body,
            {"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        return r.status, r.read()

    def run_kind(self, kind, chains):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        rnd = random.Random()
        i = 0
        while not self.stop.is_set():
            if kind == "login":
                n = rnd.randrange(USERS)
                form = {"grant_type": "password", "client_id": CLIENT,
                        "client_secret": SECRET, "username": email(n),
                        "password": PW, "audience": API}
            else:
                if not chains:
                    return
                i = (i + 1) % len(chains)
                form = {"grant_type": "refresh_token", "client_id": CLIENT,
                        "client_secret": SECRET, "refresh_token": chains[i]}
            t0 = time.monotonic()
            try:
                st, raw = self.request(conn, form)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                    timeout=60)
                st, raw = 0, b""
            dt = time.monotonic() - t0
            if kind == "refresh" and st == 200:
                chains[i] = json.loads(raw)["refresh_token"]
            with self.lock:
                self.rows.append((t0, dt, kind, st))

    def start(self):
        per = [self.chains[k::REFRESH_THREADS] for k in range(REFRESH_THREADS)]
        for k in range(LOGIN_THREADS):
            self.threads.append(threading.Thread(target=self.run_kind,
                args=("login", None)))
        for k in range(REFRESH_THREADS):
            self.threads.append(threading.Thread(target=self.run_kind,
                args=("refresh", per[k])))
        for t in self.threads:
            t.start()

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def window(self, t0, t1):
        with self.lock:
            rows = [r for r in self.rows if t0 <= r[0] < t1]
        out = {}
        for kind in ("login", "refresh"):
            lat = [r[1] * 1000 for r in rows if r[2] == kind]
            bad = sum(1 for r in rows if r[2] == kind and r[3] != 200)
            out[kind] = {"n": len(lat), "non200": bad,
                         "p50_ms": round(bench_lib.pct(lat, 50), 1),
                         "p99_ms": round(bench_lib.pct(lat, 99), 1)}
        return out


def admin(home):
    """Every admin command once, timed."""
    def u(k):
        return uid(USERS * k // 11)
    pw = ("new " + PW + "\n").encode()
    cmds = [
        # On a home made by an earlier release the first per-user command
        # builds the per-user index of refresh-token families.
        ("first per-user command", ["token", "list", "--user", u(0)], None),
        ("tenant show", ["tenant", "show"], None),
        ("client list", ["client", "list"], None),
        ("connection list", ["connection", "list"], None),
        ("api list", ["api", "list"], None),
        ("key list", ["key", "list"], None),
        ("user show", ["user", "show", u(1)], None),
        ("user find", ["user", "find", "--connection", CONN, email(USERS // 11)], None),
        ("token list --user", ["token", "list", "--user", u(1)], None),
        ("device list --user", ["device", "list", "--user", u(1)], None),
        ("user block", ["user", "block", u(2)], None),
        ("user unblock", ["user", "unblock", u(2)], None),
        ("user set-password", ["user", "set-password", u(3)], pw),
        ("token revoke --user --all", ["token", "revoke", "--user", u(4),
                                        "--all"], None),
        ("user update", ["user", "update", u(5), "--name", "Scale"], None),
        ("user remove", ["user", "remove", u(6)], None),
        ("user add", ["user", "add", "--connection", CONN, "--email",
                      "new@scale.example", "--password-stdin"], pw),
        ("guard list", ["guard", "list"], None),
        ("guard prune", ["guard", "prune"], None),
        ("audit list", ["audit", "list", "--limit", "100"], None),
        ("key rotate", ["key", "rotate", "--force"], None),
        ("import (no change)", ["import", str(home.parent / "scale-tenant.json")], None),
        ("user list", ["user", "list"], None),
    ]
    out = []
    for name, args, stdin in cmds:
        rc, secs, nout, err = ctl(home, *args, stdin=stdin)
        out.append({"command": name, "exit": rc, "seconds": round(secs, 3),
                    "stdout_bytes": nout})
        if rc != 0:
            out[-1]["stderr"] = err
    return out


def prune_under_load(home, srv, chains):
    load = Load(srv.port, chains)
    load.start()
    time.sleep(3)
    t0 = time.monotonic()
    time.sleep(SECONDS)
    t1 = time.monotonic()
    idle = load.window(t0, t1)
    rc, secs, _, err = ctl(home, "token", "prune")
    t2 = time.monotonic()
    during = load.window(t1, t2)
    load.end()
    res = {"idle": idle, "during_prune": during, "prune_exit": rc,
           "prune_seconds": round(secs, 2)}
    if rc != 0:
        res["prune_stderr"] = err
    for kind in ("login", "refresh"):
        i, d = idle[kind]["p99_ms"], during[kind]["p99_ms"]
        res[kind + "_p99_ratio"] = round(d / i, 2) if i else None
    return res


def verify(home):
    out = {}
    for p in sorted(home.glob("*.db")):
        t0 = time.monotonic()
        r = subprocess.run(["db5.3_verify", "-h", str(home), p.name],
            capture_output=True, text=True)
        out[p.name] = {"ok": r.returncode == 0,
                       "seconds": round(time.monotonic() - t0, 1)}
    return out


def main():
    for exe in (CTL, LOADER, bench_lib.FCGI):
        if not exe.exists():
            raise SystemExit("scale: %s missing (make B=%s all)" % (exe, B))
    keep = os.environ.get("SCALE_HOME")
    tmp = Path(tempfile.mkdtemp(prefix="latchkey-scale-"))
    home = Path(keep) if keep else tmp / "home"
    tokens = home.parent / "scale-tokens.txt"
    res = {"users": USERS}
    if (home / "loaded").exists():
        res["load"] = json.loads((home / "loaded").read_text())
        res["load"]["reused"] = True
    else:
        if tokens.exists():
            tokens.unlink()
        res["load"] = build(home, tokens)
    res["size"] = sizes(home)
    chains = [line.split()[1] for line in tokens.read_text().splitlines()]
    srv = bench_lib.Lighttpd(tmp, home, bench_lib.FCGI, procs=4)
    try:
        res["prune"] = prune_under_load(home, srv, chains)
    finally:
        srv.stop()
        bench_lib.remove_slot_memory(home)
    res["admin"] = admin(home)
    res["verify"] = verify(home)
    (B / "scale.json").write_text(json.dumps(res, indent=1) + "\n")
    report(res)
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    bad = [a for a in res["admin"] if a["exit"] != 0]
    bad += [k for k, v in res["verify"].items() if not v["ok"]]
    if res["prune"]["prune_exit"] != 0:
        bad.append("prune")
    if bad:
        raise SystemExit("scale: FAILED: %s" % bad)


def report(res):
    s, ld, pr = res["size"], res["load"], res["prune"]
    print("== make scale: %d users, %d refresh tokens in %d families" %
          (res["users"], s["tokens"], s["families"]))
    print("load: users %.0f s, tokens %.0f s%s" % (ld["users_s"],
          ld["tokens_s"], " (home reused)" if ld.get("reused") else ""))
    print("disk: %.1f MiB in all; %d B per user (users + indexes), "
          "%d B per refresh token (tokens + families)" % (s["total_mib"],
          s["bytes_per_user"], s["bytes_per_token"]))
    print("  " + ", ".join("%s %.1f" % kv for kv in s["files_mib"].items()))
    print("token prune under load: exit %s in %.1f s" % (pr["prune_exit"],
          pr["prune_seconds"]))
    for kind in ("login", "refresh"):
        i, d = pr["idle"][kind], pr["during_prune"][kind]
        print("  %-7s idle n=%d p50 %.1f p99 %.1f ms | during prune n=%d "
              "p50 %.1f p99 %.1f ms (non-200 %d) | p99 ratio %s" % (kind,
              i["n"], i["p50_ms"], i["p99_ms"], d["n"], d["p50_ms"],
              d["p99_ms"], d["non200"], pr[kind + "_p99_ratio"]))
    print("admin commands (seconds, exit, output bytes):")
    for a in res["admin"]:
        print("  %-26s %8.3f  %-4s %d" % (a["command"], a["seconds"],
              a["exit"], a["stdout_bytes"]))
    bad = [k for k, v in res["verify"].items() if not v["ok"]]
    print("db5.3_verify: %d databases, %s (%.0f s)" % (len(res["verify"]),
          "all clean" if not bad else "FAILED: " + ", ".join(bad),
          sum(v["seconds"] for v in res["verify"].values())))


if __name__ == "__main__":
    main()
