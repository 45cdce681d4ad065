#!/usr/bin/python3
"""
Fault and soak tests.  lighttpd from httpd-conf/lighttpd.conf
serves a fresh tenant on 127.0.0.1; client threads run a write-heavy load
(password logins that rehash every user's first time, refresh-token
rotation); nothing here trusts latchkey's own word.

  fault.py --kills N      SIGKILL random responders at random moments,
                          N times (lighttpd respawns them), then check:
                          - every access token received verifies with
                            PyJWT against the published JWKS;
                          - every refresh token the client last received
                            (a 200) still redeems: an acknowledged
                            rotation was durable; a 403 is accepted only
                            when the chain's last answer was lost in a
                            kill (the server rotated, the client never
                            saw the successor: properly rotated);
                          - every user that logged in logs in again
                            (the rehash writes were atomic);
                          - every failed login that was answered has its
                            brute-force count once every responder was
                            killed (a count below the threshold is
                            committed without a sync: a killed process
                            loses none);
                          - service resumed within 1 s of every kill;
                          - no responder sleeps in a futex (a Berkeley
                            DB mutex a killed peer held) for 3 s;
                          - after the last responder is gone, latchkeyctl
                            opens (recovers) the environment and
                            db5.3_verify finds every database clean;
                          - latchkeyctl commands run one after another
                            during the kills (guard list, user block and
                            unblock of a user of their own, token prune,
                            token list, an import that changes nothing)
                            each end within ADMIN_TIMEOUT s with 0, or 75
                            (the documented temporary failure, run again
                            here), and cause no service gap: see
                            admin_gaps().
  fault.py --soak SECONDS 16 responders, mixed load, no kills: zero 5xx,
                          no deadlock left unresolved in the error log,
                          no growth in responder RSS.

Exit status 0 when every check passed.  B names the build directory.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_lib	# noqa: E402  (the lighttpd runner and tenant of make bench)

import jwt	# noqa: E402

ISSUER = "http://127.0.0.1/"
BLOCKED_MAX = 3.0	# s a responder may sleep in a futex (lock waits: 0.2 s)
# Answers that tell the client nothing about its request: a connection
# reset or lighttpd's page for a killed responder, or latchkey's 503 with
# Retry-After while the environment recovers.
LOST = (0, 500, 502, 503, "503-retry")
USERS = [("fault%02d@example.com" % i, "fault-pw-%02d-Xq7Lm2Zr" % i)
    for i in range(24)]
# The admin commands' own user: blocked and unblocked, never logged in.
ADMIN_USER = ("fault-admin@example.com", "fault-admin-pw-Xq7Lm2Zr")
# A latchkeyctl command over this is hung: latchkeyctl itself gives up
# after 20 s of tries (lib/run/ctlrun.c CTLRUN_TOTAL_MS) plus a last try.
ADMIN_TIMEOUT = 40.0
ADMIN_TRIES = 5		# runs of one command that ended 75
GAP = 1.0		# s without a 200 answer: a service gap
# Failed logins of unknown users, each once: their brute-force counts
# stay below the threshold, so they are committed without a sync
# (docs/security.md, "Durability"), and must survive the kills all the
# same.  Few enough not to throttle the IP (suspicious IP: 100).
GHOSTS_MAX = 40


class Load:
    """Client threads: logins and refresh rotations, every outcome kept."""

    def __init__(self, base, seed):
        self.base = base
        self.rnd = random.Random(seed)
        self.lock = threading.RLock()
        self.access = []		# access tokens received
        self.chains = []		# [latest refresh token, last answer ok?]
        self.logged_in = set()
        self.ok_times = []		# monotonic time of every 200 answer
        self.counts = {}
        self.bad = []			# unexpected answers
        self.ghosts = set()		# acknowledged failed logins
        self.ghost_n = 0
        self.stop = threading.Event()

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def call(self, form):
        try:
            st, body = bench_lib.post(self.base, "/oauth/token", form)
        except Exception as e:		# connection reset by a kill
            return 0, {"exception": type(e).__name__}
        # lighttpd answers for a responder killed mid-request (a 500 or
        # 503 page); latchkey itself answers a transient failure 503 with
        # Retry-After, never a JSON 500.
        if st == 500 and "error" in body:
            self.bad.append(("latchkey 500", form["grant_type"], body))
        if st == 503 and "error" in body:
            st = "503-retry"
        if st == 200:
            self.ok_times.append(time.monotonic())
        return st, body

    def login(self, rnd):
        email, pw = rnd.choice(USERS)
        st, body = self.call({"grant_type": "password", "client_id": bench_lib.CLIENT,
            "client_secret": bench_lib.SECRET, "username": email, "password": pw,
            "audience": bench_lib.API, "scope": "offline_access read:things"})
        self.count("login %s" % st)
        if st == 200:
            with self.lock:
                self.access.append(body["access_token"])
                self.chains.append([body["refresh_token"], True])
                self.logged_in.add((email, pw))
        elif st not in LOST:
            self.bad.append(("login", st, body))

    def refresh(self, rnd):
        with self.lock:
            if not self.chains:
                return
            chain = rnd.choice(self.chains)
            if chain[0] is None:
                return
            tok, was_ok = chain
            chain[0] = None		# one user of a chain at a time
        st, body = self.call({"grant_type": "refresh_token",
            "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
            "refresh_token": tok})
        self.count("refresh %s" % st)
        with self.lock:
            if st == 200:
                self.access.append(body["access_token"])
                chain[:] = [body["refresh_token"], True]
            elif st in LOST:
                chain[:] = [tok, False]	# answer lost: may have rotated
            elif st == 403 and not was_ok:
                chain[:] = [None, False]	# properly rotated; chain ends
                self.count("refresh rotated-unseen")
            else:
                chain[:] = [None, False]
                self.bad.append(("refresh", st, body))

    def ghost(self):
        with self.lock:
            if self.ghost_n >= GHOSTS_MAX:
                return
            name = "ghost%03d@example.com" % self.ghost_n
            self.ghost_n += 1
        st, body = self.call({"grant_type": "password", "client_id": bench_lib.CLIENT,
            "client_secret": bench_lib.SECRET, "username": name,
            "password": "not-the-password", "audience": bench_lib.API})
        self.count("failed login %s" % st)
        if st == 403:
            with self.lock:
                self.ghosts.add(name)
        elif st not in LOST:
            self.bad.append(("failed login", st, body))

    def worker(self, n):
        rnd = random.Random(self.rnd.random() + n)
        while not self.stop.is_set():
            if rnd.random() < 0.03:
                self.ghost()
            elif rnd.random() < 0.4:
                self.login(rnd)
            else:
                self.refresh(rnd)


class Admin:
    """latchkeyctl commands one after another, each with a timeout, as an
    operator or cron would run them while responders die
    (docs/operations.md: one used to sleep for good on a killed
    responder's mutex, holding the recovery lock, and no responder could
    open the environment)."""

    def __init__(self, home, user_id, small, seed):
        self.home = home
        self.cmds = [["guard", "list"], ["user", "block", user_id],
            ["token", "list", "--user", user_id], ["user", "unblock", user_id],
            ["token", "prune"], ["import", str(small)]]
        self.rnd = random.Random(seed)
        self.runs = []			# (start, end, command, runs)
        self.retried, self.failed, self.hung = 0, [], []
        self.tries = 0			# latchkeyctl's own tries again
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        i = 0
        while not self.stop.is_set():
            self.one(self.cmds[i % len(self.cmds)])
            i += 1
            self.stop.wait(self.rnd.uniform(0, 0.1))

    def one(self, cmd):
        name = " ".join(cmd[:1] if cmd[0] == "import" else cmd[:2])
        t0, n = time.monotonic(), 0
        while n < ADMIN_TRIES:
            n += 1
            try:
                p = subprocess.run([str(bench_lib.CTL), "-d", str(self.home), *cmd],
                    capture_output=True, text=True, timeout=ADMIN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.hung.append(name)
                break
            self.tries += p.stderr.count("; trying again (")
            if p.returncode == 0:
                break
            if p.returncode != 75 or n == ADMIN_TRIES:
                self.failed.append("%s: exit %d: %s" % (name,
                    p.returncode, p.stderr.strip()[-300:]))
                break
            self.retried += 1
        self.runs.append((t0, time.monotonic(), name, n))

    def done(self):
        self.stop.set()
        self.thread.join(ADMIN_TIMEOUT * ADMIN_TRIES)
        return self


def outside(a, b, windows):
    """The stretches of (a, b) outside every window, as (start, end)."""
    out, cur = [], a
    for w0, w1 in sorted(windows):
        if w1 <= cur or w0 >= b:
            continue
        if w0 > cur:
            out.append((cur, w0))
        cur = max(cur, w1)
    if cur < b:
        out.append((cur, b))
    return out


def admin_gaps(load, kills, admin, t_start, t_end, kill_max):
    """Service gaps the admin commands caused.  A gap is a stretch of more
    than GAP s between two 200 answers of the token endpoint (the run's
    start and end count as answers, so that a service stopped for good
    shows).  A kill's own outage runs from the kill until the JWKS
    answered again, but at most kill_max s: what a kill alone may cost
    (the resume allowance; 3 s under lighttpd, which respawns in 1-2 s).
    Longer, the kill loop's wait is no measure of the kill: a command
    asleep for good also keeps the JWKS down, and the loop kills again
    every 10 s.  A gap counts against the admin commands when a stretch
    of it outside every kill's own outage is longer than GAP s and
    overlaps a command's run.  Returns (gaps, blamed: [(stretch length,
    command)])."""
    oks = [t_start] + sorted(load.ok_times) + [t_end]
    gaps = [(a, b) for a, b in zip(oks, oks[1:]) if b - a > GAP]
    windows = [(t, t + min(r, kill_max)) for t, r in kills]
    blamed = []
    for a, b in gaps:
        for s0, s1 in outside(a, b, windows):
            if s1 - s0 <= GAP:
                continue
            over = [c for c0, c1, c, _ in admin.runs if c0 < s1 and c1 > s0]
            if over:
                blamed.append((s1 - s0, over[0]))
    return gaps, blamed


def admin_report(load, kills, admin, t_start, t_end, kill_max, failures):
    gaps, blamed = admin_gaps(load, kills, admin, t_start, t_end, kill_max)
    failures += ["latchkeyctl %s: no answer within %g s (hung)" % (c, ADMIN_TIMEOUT)
        for c in admin.hung]
    failures += ["latchkeyctl " + f for f in admin.failed]
    failures += ["service gap of %.2f s beyond the kills' outages during"
        " latchkeyctl %s" % b for b in blamed]
    if not admin.runs:
        failures.append("no latchkeyctl command ran during the kills")
    took = [c1 - c0 for c0, c1, _, _ in admin.runs]
    kinds = {}
    for _, _, c, _ in admin.runs:
        kinds[c] = kinds.get(c, 0) + 1
    print("fault: latchkeyctl during the kills: %d commands (%s); it tried"
        " again by itself %d times; %d runs ended 75 and were run again, %d"
        " failed, %d hung; time max %.2f s, mean %.3f s" % (len(admin.runs),
        ", ".join("%s=%d" % kv for kv in sorted(kinds.items())), admin.tries,
        admin.retried, len(admin.failed), len(admin.hung), max(took or [0]),
        sum(took) / max(1, len(took))))
    print("fault: service gaps over %g s without a 200: %d (longest %.2f s);"
        " beyond the kills' own outages (at most %g s each) and overlapping"
        " latchkeyctl: %d (longest %.2f s)" % (GAP, len(gaps),
        max([b - a for a, b in gaps] or [0]), kill_max, len(blamed),
        max([b[0] for b in blamed] or [0])))


def jwks_up(base):
    try:
        with urllib.request.urlopen(base + "/.well-known/jwks.json", timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def setup(tmp, name):
    home = Path(tmp) / ("home-" + name)
    t = bench_lib.tenant(ISSUER, "RS256")
    t["tenant"]["hash"] = {"t": 1, "m": 1024, "p": 1}
    t["connections"][0]["enabled_clients"] = [bench_lib.CLIENT]
    t["clients"] = t["clients"][:1]	# rotating, no leeway
    t["users"] = [{"connection": bench_lib.CONN, "email": e, "password": p}
        for e, p in USERS + [ADMIN_USER]]
    tf = Path(tmp) / ("tenant-%s.json" % name)
    tf.write_text(json.dumps(t))
    bench_lib.ctl(home, "import", str(tf))
    # A stronger policy after import: every user's first login rehashes.
    bench_lib.ctl(home, "tenant", "set", "hash.m", "2048")
    # The admin commands' import: the API as it is, so nothing changes.
    (Path(tmp) / "admin-import.json").write_text(json.dumps({"apis": t["apis"]}))
    return home


def admin_user_id(home):
    p = subprocess.run([str(bench_lib.CTL), "-d", str(home), "user", "find",
        "--connection", bench_lib.CONN, ADMIN_USER[0]], capture_output=True,
        text=True, check=True)
    return json.loads(p.stdout)["user_id"]


def post_patiently(base, form):
    """A client that honours 503 + Retry-After (a responder that found
    the environment in recovery), at most 5 times."""
    for _ in range(5):
        st, body = bench_lib.post(base, "/oauth/token", form)
        if st != 503 or "error" not in body:
            break
        time.sleep(1)
    return st, body


def jwks_patiently(base):
    """The published keys, honouring 503 + Retry-After like
    post_patiently: a kill shortly before can leave a recovery in
    progress (a survivor's stall exit is one more dead process)."""
    for i in range(5):
        try:
            with urllib.request.urlopen(base + "/.well-known/jwks.json",
                    timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            # latchkey's 503 + Retry-After, or lighttpd's page while it
            # starts a responder again
            if e.code != 503 or i == 4:
                raise
            time.sleep(float(e.headers.get("Retry-After", "1")))


def verify_all(base, load, failures):
    keys = jwks_patiently(base)
    byk = {k["kid"]: jwt.PyJWK(k).key for k in keys["keys"]}
    for tok in load.access:
        try:
            jwt.decode(tok, byk[jwt.get_unverified_header(tok)["kid"]],
                algorithms=["RS256"], audience=bench_lib.API, issuer=ISSUER)
        except Exception as e:
            failures.append("access token does not verify: %s" % e)
    live = [c for c in load.chains if c[0] is not None and c[1]]
    for tok, _ in live:
        st, body = post_patiently(base, {"grant_type": "refresh_token",
            "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
            "refresh_token": tok})
        if st != 200:
            failures.append("acknowledged refresh token lost: %s %s" % (st, body))
    for email, pw in sorted(load.logged_in):
        st, body = post_patiently(base, {"grant_type": "password",
            "client_id": bench_lib.CLIENT, "client_secret": bench_lib.SECRET,
            "username": email, "password": pw, "audience": bench_lib.API})
        if st != 200:
            failures.append("%s cannot log in again: %s %s" % (email, st, body))
    return len(live)


def guard_check(home, load, failures):
    """Every failed login that was answered has its brute-force count,
    committed without a sync, after every responder was killed."""
    p = subprocess.run([str(bench_lib.CTL), "-d", str(home), "guard", "list"],
        capture_output=True, text=True, timeout=ADMIN_TIMEOUT)
    if p.returncode != 0:
        failures.append("guard list: %d %s" % (p.returncode, p.stderr))
        return
    lost = sorted(g for g in load.ghosts if g not in p.stdout)
    if lost:
        failures.append("%d of %d acknowledged failed logins lost their count:"
            " %s" % (len(lost), len(load.ghosts), ", ".join(lost[:5])))
    print("fault: %d acknowledged failed logins, each counted after the kills"
        % (len(load.ghosts) - len(lost)))


def db_check(home, failures):
    p = subprocess.run([str(bench_lib.CTL), "-d", str(home), "tenant", "show"],
        capture_output=True, text=True)
    if p.returncode != 0:
        failures.append("environment does not reopen: " + p.stderr[-500:])
    for db in sorted(Path(home).glob("*.db")):
        v = subprocess.run(["db5.3_verify", "-h", str(home), db.name],
            capture_output=True, text=True)
        if v.returncode != 0:
            failures.append("db5.3_verify %s: %s" % (db.name, (v.stdout + v.stderr)[-500:]))


class Blocked:
    """Samples the responders' wchan during the kills: a survivor asleep
    in a futex (not in accept) for BLOCKED_MAX s is asleep on a Berkeley
    DB mutex its killed peer held, which it never gets out of by itself
    (lib/run/stall.c makes it exit)."""

    def __init__(self, srv):
        self.srv, self.since, self.worst = srv, {}, {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.25):
            now = time.monotonic()
            for pid in self.srv.responders():
                try:
                    with open("/proc/%d/wchan" % pid) as f:
                        asleep = "futex" in f.read()
                except OSError:
                    asleep = False
                if not asleep:
                    self.since.pop(pid, None)
                    continue
                t = now - self.since.setdefault(pid, now)
                self.worst[pid] = max(self.worst.get(pid, 0), t)

    def done(self):
        self.stop.set()
        self.thread.join()
        return {p: t for p, t in self.worst.items() if t > BLOCKED_MAX}


def run_fault(args, tmp):
    home = setup(tmp, "fault")
    srv = bench_lib.Lighttpd(tmp, home, bench_lib.FCGI, procs=args.procs,
        children=args.children)
    try:
        return fault_load(args, srv, home, Path(tmp) / "admin-import.json")
    finally:
        if srv.proc.poll() is None:
            srv.stop()


def fault_load(args, srv, home, small):
    load = Load(srv.base, args.seed)
    threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
        for i in range(args.workers)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    rnd = random.Random(args.seed)
    failures, resume, kills = [], [], []
    watch = Blocked(srv)
    admin = Admin(home, admin_user_id(home), small, args.seed) \
        if args.admin else None
    try:
        for k in range(args.kills):
            time.sleep(rnd.uniform(0.05, 0.5))
            pids = srv.responders()
            # Mostly one process, sometimes all of them at once.
            victims = pids if rnd.random() < 0.2 else rnd.sample(pids, 1) if pids else []
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            t0 = time.monotonic()
            while not jwks_up(srv.base):
                if time.monotonic() - t0 > 10:
                    break
                time.sleep(0.01)
            resume.append(time.monotonic() - t0)
            kills.append((t0, resume[-1]))
            if resume[-1] > 1.0 and os.environ.get("FAULT_DEBUG"):
                print("slow resume %.2f s after killing %d of %d at %s" % (
                    resume[-1], len(victims), len(pids),
                    time.strftime("%H:%M:%S", time.localtime(time.time() - resume[-1]))))
        time.sleep(0.5)
    finally:
        if admin:
            admin.done()
        t_end = time.monotonic()
        load.stop.set()
        t0 = time.monotonic()
        for t in threads:
            t.join(90)
    print("fault: load stopped in %.1f s" % (time.monotonic() - t0))
    if admin:
        admin_report(load, kills, admin, t_start, t_end,
            min(args.resume_max, 3.0), failures)
    for pid, t in sorted(watch.done().items()):
        failures.append("responder %d asleep in a futex for %.1f s (a Berkeley"
            " DB mutex of a killed process)" % (pid, t))
    t0 = time.monotonic()
    live = verify_all(srv.base, load, failures)
    print("fault: verified in %.1f s" % (time.monotonic() - t0))
    failures += ["unexpected answer: %s" % (b,) for b in load.bad]
    slow = [r for r in resume if r > args.resume_max]
    if slow:
        failures.append("service resumed later than %g s after %d kills (max %.2f s)"
            % (args.resume_max, len(slow), max(slow)))
    over1 = len([r for r in resume if r > 1.0])
    # Kill whatever runs, as a crash of the whole host would, then recover.
    for pid in srv.supervisors() + srv.responders():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    srv.stop()
    bench_lib.remove_slot_memory(home)
    db_check(home, failures)
    guard_check(home, load, failures)
    print("fault: %d kills, %d client threads, %s: %s" % (args.kills,
        args.workers, "one supervisor of %d workers" % args.children
        if args.children else "%d responder processes" % args.procs,
        ", ".join("%s=%d" % kv for kv in sorted(load.counts.items()))))
    print("fault: %d access tokens verified with PyJWT, %d live refresh chains"
        " redeemed, %d users logged in again, resume after kill max %.3f s"
        " (mean %.3f s; %d of %d kills over 1 s), db5.3_verify on %d databases"
        % (len(load.access), live, len(load.logged_in), max(resume or [0]),
        sum(resume) / max(1, len(resume)), over1, len(resume),
        len(list(Path(home).glob("*.db")))))
    return failures


def rss(srv):
    """VmRSS KiB by responder, the hash slots' shared memory aside: a
    process maps a slot's the first time it hashes in that slot (bounded:
    slots x m KiB), which is not a leak."""
    return {pid: r[0] - r[5] for pid, r in
        zip(srv.responders(), srv.rss_kib())}


def run_soak(args, tmp):
    home = setup(tmp, "soak")
    # The soak looks for 5xx, deadlocks and leaks, not for admission
    # control (test_admission.py, make bench): let every login wait.
    bench_lib.ctl(home, "tenant", "set", "hash_queue", "64")
    bench_lib.ctl(home, "tenant", "set", "hash_wait_ms", "60000")
    srv = bench_lib.Lighttpd(tmp, home, bench_lib.FCGI, procs=16)
    try:
        return soak_load(args, srv, home)
    finally:
        srv.stop()


def soak_load(args, srv, home):
    load = Load(srv.base, args.seed)
    threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
        for i in range(args.workers)]
    for t in threads:
        t.start()
    failures = []
    time.sleep(min(10, args.soak / 4))
    first = rss(srv)
    time.sleep(max(1, args.soak - min(10, args.soak / 4)))
    last = rss(srv)
    load.stop.set()
    for t in threads:
        t.join(30)
    fivexx = {k: v for k, v in load.counts.items()
        if k.split()[-1] in ("0", "500", "502", "503", "503-retry")}
    if fivexx:
        failures.append("5xx or lost answers: %s" % fivexx)
    failures += ["unexpected answer: %s" % (b,) for b in load.bad]
    log = (srv.run / "error.log").read_text(errors="replace")
    dead = len(re.findall(r"still deadlocked", log))
    if dead:
        failures.append("%d unresolved deadlocks in the error log" % dead)
    grown = {pid: (first[pid], last[pid]) for pid in first
        if pid in last and last[pid] > first[pid] + 512}
    if grown:
        failures.append("RSS grew (KiB, first -> last): %s" % grown)
    verify_all(srv.base, load, failures)
    srv.stop()
    db_check(home, failures)
    total = sum(load.counts.values())
    print("soak: %d s, 16 processes, %d workers: %d requests (%.0f/s): %s" % (
        args.soak, args.workers, total, total / args.soak,
        ", ".join("%s=%d" % kv for kv in sorted(load.counts.items()))))
    print("soak: RSS KiB per responder (hash slot memory aside) first %s,"
        " last %s; deadlock retries exhausted: %d" % (sorted(first.values()), sorted(last.values()), dead))
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--soak", type=int, default=0)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--children", type=int, default=0,
        help="one responder supervising this many workers"
        " (LATCHKEY_CHILDREN) instead of --procs processes; the kills"
        " then hit the workers")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--no-admin", dest="admin", action="store_false",
        help="no latchkeyctl commands during the kills")
    ap.add_argument("--resume-max", type=float, default=1.0,
        help="seconds within which service must answer again after a kill")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="latchkey-fault-")
    print("seed %d (rerun with --seed)" % args.seed)
    try:
        failures = run_soak(args, tmp) if args.soak else run_fault(args, tmp)
    finally:
        if not os.environ.get("LATCHKEY_KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
    for f in failures[:50]:
        print("FAIL:", f)
    print("FAILED (%d)" % len(failures) if failures else "PASSED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
