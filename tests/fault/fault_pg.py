#!/usr/bin/python3
"""
The PostgreSQL failover test (make fault-pg).  A primary with a
synchronous standby (tests/pg/pgcluster.py, synchronous_commit =
remote_apply), two latchkey "machines" (two lighttpd servers from
httpd-conf/lighttpd.conf on 127.0.0.1 ports, each with its own
responders) reaching them through one multi-host connection string with
target_session_attrs=read-write.  Client threads run a mixed load on
both machines (password logins, rotating refreshes whose successors are
redeemed at either machine, wrong passwords for one user), every answer
kept.  Mid-load the primary's postmaster is SIGKILLed and the standby
promoted, as an operator (or a failover manager) would.  Afterwards:

  - every answer was a 200, a JSON 503 with Retry-After, or the answer
    the load expected (a wrong password's 403); never a 500, never an
    answer slower than --request-max s (no hang);
  - each machine answered a 200 again within --resume-max s of the
    kill (the figure is printed per machine: from the kill to the first
    200 of a request sent once the primary was dead);
  - every refresh token a client last received in a 200 redeems once
    (an acknowledged rotation survived the failover); a 403 is accepted
    only for a chain whose last answer was a 503 (the commit may have
    reached the database while the answer was lost: properly rotated);
  - reuse detection fired exactly for those chains: the responders'
    "refresh token reused" messages are no more than the 403s seen,
    so no token the client redeemed once was taken for a replay;
  - each wrong-password user's brute-force counter is at most the
    failures the client was told of plus those whose answer was lost, and
    at least those told of, but for attempts the responders logged as
    not recorded (guard.c writes the attempt after deciding the answer,
    and answers even when that write fails: the database went away in
    between) and those told in the last second before the kill (a count
    below the block threshold is committed without waiting for the
    disk: store_txn_run_nosync); counters exact across machines;
  - every access token verifies with PyJWT against the JWKS.

Exit status 0 when every check passed.  B names the build directory.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
sys.path.insert(0, str(HERE.parent / "pg"))
import bench_lib		# noqa: E402  (lighttpd runner and tenant of make bench)
import pgcluster	# noqa: E402  (the throw-away PostgreSQL servers)

import jwt		# noqa: E402

ISSUER = "http://127.0.0.1/"
DB = "latchkey"
USERS = [("pgfault%02d@example.com" % i, "pgfault-pw-%02d-Xq7Lm2Zr" % i)
    for i in range(12)]
# Log in with wrong passwords only: their brute-force counters are
# checked (several, so that none reaches the threshold of 100, which
# would block it).
# How long before the kill a failure's count may be lost: unsynced
# commits reach the disk (and the standby) within 3 x wal_writer_delay
# (200 ms by default).
NOSYNC_WINDOW = 1.0
# Wrong passwords per user at most: below the block threshold (100).
WRONG_MAX = 90
WRONG_USERS = [("pgfault-wrong%d@example.com" % i, "pgfault-wrong-pw-%d-Xq7Lm2Zr"
    % i) for i in range(6)]


def post(base, form, timeout):
    """(status, body, Retry-After or None, seconds taken); status 0 when
    no answer came."""
    req = urllib.request.Request(base + "/oauth/token",
        urllib.parse.urlencode(form).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), None, time.monotonic() - t0
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw[:200].decode(errors="replace")}
        return e.code, body, e.headers.get("Retry-After"), time.monotonic() - t0
    except Exception as e:
        return 0, {"exception": type(e).__name__}, None, time.monotonic() - t0


class Load:
    """Client threads on both machines; every outcome kept."""

    def __init__(self, bases, seed, request_max):
        self.bases = bases
        self.rnd = random.Random(seed)
        self.request_max = request_max
        self.lock = threading.RLock()
        self.access = []
        self.chains = []		# [latest refresh token, last answer ok?]
        self.ok = {b: [] for b in bases}	# (sent, answered) of each 200
        self.counts = {}
        self.bad = []
        self.slowest = 0.0
        self.wrong_told = {}		# by user: wrong-password 403s received
        self.wrong_lost = {}		# by user: tries whose answer was lost
        self.wrong_at = []		# when each wrong-password 403 came
        self.wrong_tries = {}		# by user: tries sent
        self.stop = threading.Event()

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def call(self, rnd, form):
        base = rnd.choice(self.bases)
        t0 = time.monotonic()
        st, body, retry, took = post(base, form, self.request_max + 5)
        with self.lock:
            self.slowest = max(self.slowest, took)
            if st == 200:
                self.ok[base].append((t0, t0 + took))
        if took > self.request_max:
            self.bad.append(("slow", form["grant_type"], st, round(took, 2)))
        if st == 503 and "error" in body and retry is not None:
            return "503", body
        if st not in (200, 403):
            self.bad.append(("answer", form["grant_type"], st, retry, body))
        return st, body

    def login(self, rnd):
        email, pw = rnd.choice(USERS)
        st, body = self.call(rnd, {"grant_type": "password",
            "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
            "username": email, "password": pw, "audience": bench_lib.API,
            "scope": "offline_access read:things"})
        self.count("login %s" % st)
        if st == 200:
            with self.lock:
                self.access.append(body["access_token"])
                self.chains.append([body["refresh_token"], True])
        elif st != "503":
            self.bad.append(("login", st, body))

    def wrong(self, rnd):
        with self.lock:
            room = [e for e, _ in WRONG_USERS if self.wrong_tries.get(e, 0)
                < WRONG_MAX]
            email = rnd.choice(room) if room else None
            if email is not None:
                self.wrong_tries[email] = self.wrong_tries.get(email, 0) + 1
        if email is None:
            return self.login(rnd)
        st, body = self.call(rnd, {"grant_type": "password",
            "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
            "username": email, "password": "not-the-password",
            "audience": bench_lib.API})
        self.count("wrong %s" % st)
        with self.lock:
            if st == 403 and body.get("error") == "invalid_grant":
                self.wrong_told[email] = self.wrong_told.get(email, 0) + 1
                self.wrong_at.append(time.monotonic())
            elif st == "503":
                self.wrong_lost[email] = self.wrong_lost.get(email, 0) + 1
            else:
                self.bad.append(("wrong password", st, body))

    def refresh(self, rnd):
        with self.lock:
            live = [c for c in self.chains if c[0] is not None]
            if not live:
                return
            chain = rnd.choice(live)
            tok, was_ok = chain
            chain[0] = None		# one user of a chain at a time
        st, body = self.call(rnd, {"grant_type": "refresh_token",
            "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
            "refresh_token": tok})
        self.count("refresh %s" % st)
        with self.lock:
            if st == 200:
                self.access.append(body["access_token"])
                chain[:] = [body["refresh_token"], True]
            elif st == "503":
                chain[:] = [tok, False]	# may have rotated: try again
            elif st == 403 and not was_ok:
                chain[:] = [None, False]	# properly rotated; chain ends
                self.count("refresh rotated-unseen")
            else:
                chain[:] = [None, False]
                self.bad.append(("refresh", st, body))

    def worker(self, n):
        rnd = random.Random(self.rnd.random() + n)
        while not self.stop.is_set():
            x = rnd.random()
            if x < 0.3:
                self.login(rnd)
            elif x < 0.35:
                self.wrong(rnd)
            else:
                self.refresh(rnd)


def tenant():
    t = bench_lib.tenant(ISSUER, "RS256")
    t["tenant"]["hash"] = {"t": 1, "m": 1024, "p": 1}
    # The wrong-password users are not blocked: their counts are checked.
    t["tenant"]["brute_force"] = {"threshold": 100}
    t["connections"][0]["enabled_clients"] = [bench_lib.CLIENT]
    t["clients"] = t["clients"][:1]	# rotating, no leeway
    t["users"] = [{"connection": bench_lib.CONN, "email": e, "password": p}
        for e, p in USERS + WRONG_USERS]
    return t


def machine(tmp, name, conninfo, procs):
    """One latchkey machine: lighttpd and its responders on the shared
    database (LATCHKEY_DATABASE in the responders' environment)."""
    home = Path(tmp) / ("home-" + name)
    home.mkdir(mode=0o700)
    return bench_lib.Lighttpd(tmp, home, bench_lib.FCGI, procs=procs,
        database=conninfo)


def ctl_db(conninfo, *args):
    return subprocess.run([str(bench_lib.CTL), "-D", conninfo, *args],
        capture_output=True, text=True, check=True, timeout=60).stdout


def first_ok_after(oks, dead, kill):
    """Seconds from the kill to the first 200 of a request sent once the
    primary was dead (a request sent just before may still have
    committed there and be answered a little later)."""
    later = [end for sent, end in oks if sent >= dead]
    return min(later) - kill if later else None


def logged(servers, pattern):
    """How many lines of the web servers' logs match pattern."""
    n = 0
    for s in servers:
        for f in s.run.glob("*.log"):
            n += len(re.findall(pattern, f.read_text(errors="replace")))
    return n


def verify(load, base, failures):
    keys = json.loads(urllib.request.urlopen(base + "/.well-known/jwks.json",
        timeout=10).read())
    byk = {k["kid"]: jwt.PyJWK(k).key for k in keys["keys"]}
    for tok in load.access:
        try:
            jwt.decode(tok, byk[jwt.get_unverified_header(tok)["kid"]],
                algorithms=["RS256"], audience=bench_lib.API, issuer=ISSUER)
        except Exception as e:
            failures.append("access token does not verify: %s" % e)
    live = rotated = 0
    for i, (tok, ok) in enumerate(load.chains):
        if tok is None:
            continue
        st, body, _, _ = post(load.bases[i % 2], {"grant_type": "refresh_token",
            "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
            "refresh_token": tok}, 30)
        if st == 200:
            live += 1
        elif st == 403 and not ok:
            rotated += 1
        else:
            failures.append("refresh token lost (last answer %s): %s %s"
                % ("200" if ok else "503", st, body))
    return live, rotated


def guard_counts(conninfo):
    """The brute-force count of each identifier (all from 127.0.0.1)."""
    out = {}
    for r in json.loads(ctl_db(conninfo, "guard", "list")):
        if r.get("kind") == "brute_force":
            out[r["identifier"]] = out.get(r["identifier"], 0) + \
                int(r.get("count", 0))
    return out


def run(args, tmp, primary, standby):
    # The schema's owner imports; the web servers connect as a role of
    # latchkey_responder, which may not change the schema
    # (docs/postgresql.md).
    primary.createrole("latchkey_responder", login=False)
    primary.createrole("lk_web", member_of="latchkey_responder")
    conninfo = pgcluster.multihost([primary, standby], DB)
    tf = Path(tmp) / "tenant.json"
    tf.write_text(json.dumps(tenant()))
    ctl_db(conninfo, "import", str(tf))
    web = pgcluster.multihost([primary, standby], DB, user="lk_web")
    servers = [machine(tmp, "m%d" % i, web, args.procs) for i in (1, 2)]
    failures = []
    try:
        load = Load([s.base for s in servers], args.seed, args.request_max)
        threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
            for i in range(args.workers)]
        for t in threads:
            t.start()
        time.sleep(args.before)
        t_kill = time.monotonic()
        primary.kill()
        t_dead = time.monotonic()
        time.sleep(args.promote_after)
        t0 = time.monotonic()
        standby.promote()
        t_promote = time.monotonic() - t0
        time.sleep(args.after)
        load.stop.set()
        for t in threads:
            t.join(args.request_max + 10)
        back = {s.base: first_ok_after(load.ok[s.base], t_dead, t_kill)
            for s in servers}
        for b, t in sorted(back.items()):
            if t is None or t > args.resume_max:
                failures.append("%s: no 200 within %g s of the kill (%s)"
                    % (b, args.resume_max, t))
        failures += ["unexpected answer: %s" % (b,) for b in load.bad[:20]]
        live, rotated = verify(load, servers[0].base, failures)
        n_reused = logged(servers, r"refresh token reused")
        # A login's attempt record (counters, audit) is written after the
        # answer is decided; when that write fails (the database went
        # away in between) the responder says so and still answers
        # (lib/security/guard.c guard_after): that failure is not counted.
        unrecorded = logged(servers, r"cannot record the login attempt")
        unseen = load.counts.get("refresh rotated-unseen", 0) + rotated
        if n_reused > unseen:
            failures.append("reuse detection fired %d times for %d chains"
                " whose answer was lost: a token redeemed once was taken"
                " for a replay" % (n_reused, unseen))
        counts = guard_counts(conninfo)
        short = 0
        for email, _ in WRONG_USERS:
            told = load.wrong_told.get(email, 0)
            lost = load.wrong_lost.get(email, 0)
            n = counts.get(email, 0)
            short += max(0, told - n)
            if n > told + lost:
                failures.append("%s: brute-force count %d, the client was"
                    " told of %d failures and lost %d answers" % (email,
                    n, told, lost))
        # A count below the block threshold is committed without waiting
        # for the disk (guard.c, store_txn_run_nosync: synchronous_commit
        # off), so the primary's last moment before the kill may be lost.
        window = len([t for t in load.wrong_at
            if t_kill - NOSYNC_WINDOW <= t <= t_dead])
        if short > unrecorded + window:
            failures.append("%d failures told but not counted; %d attempts"
                " logged as not recorded, %d told in the %g s before the"
                " kill" % (short, unrecorded, window, NOSYNC_WINDOW))
        print("fault-pg: kill took %.3f s, promote %.3f s (promoted %.1f s"
            " once it was dead)" % (t_dead - t_kill, t_promote,
            args.promote_after))
        print("fault-pg: first 200 after the kill: %s (bound %g s)" % (
            ", ".join("%s %.3f s" % (b, t if t is not None else -1)
            for b, t in sorted(back.items())), args.resume_max))
        print("fault-pg: %d client threads on 2 machines x %d responders: %s;"
            " slowest answer %.3f s" % (args.workers, args.procs,
            ", ".join("%s=%d" % kv for kv in sorted(load.counts.items())),
            load.slowest))
        print("fault-pg: %d access tokens verified with PyJWT; %d refresh"
            " chains redeemed after the failover, %d properly rotated"
            " (answer lost); reuse detection fired %d times; brute-force"
            " counts %d for %d failures told, %d lost; attempts not"
            " recorded %d; failures told in the %g s before the kill %d"
            % (len(load.access), live, unseen, n_reused,
            sum(counts.get(e, 0) for e, _ in WRONG_USERS),
            sum(load.wrong_told.values()), sum(load.wrong_lost.values()),
            unrecorded, NOSYNC_WINDOW, window))
    finally:
        for s in servers:
            s.stop()
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--procs", type=int, default=2,
        help="responder processes per machine")
    ap.add_argument("--before", type=float, default=3.0,
        help="seconds of load before the kill")
    ap.add_argument("--promote-after", type=float, default=0.5,
        help="seconds from the kill to the promotion")
    ap.add_argument("--after", type=float, default=6.0,
        help="seconds of load after the promotion")
    ap.add_argument("--resume-max", type=float, default=10.0,
        help="seconds from the kill within which each machine answers 200")
    ap.add_argument("--request-max", type=float, default=10.0,
        help="seconds a request may take (no hang)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="latchkey-fault-pg-")
    os.chmod(tmp, 0o755)
    print("seed %d (rerun with --seed)" % args.seed)
    primary = pgcluster.PgCluster()
    standby = None
    try:
        primary.replicate()
        primary.start()
        # The standby first: with one named, every commit waits for it.
        standby = primary.standby()
        primary.createdb(DB)
        failures = run(args, tmp, primary, standby)
    finally:
        for c in (standby, primary):
            if c is not None:
                c.cleanup()
        if not os.environ.get("LATCHKEY_KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
    for f in failures[:50]:
        print("FAIL:", f)
    print("FAILED (%d)" % len(failures) if failures else "PASSED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
