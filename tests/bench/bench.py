#!/usr/bin/python3
"""
make bench: latchkey's throughput against the crypto bound, on
127.0.0.1 through lighttpd (httpd-conf/lighttpd.conf) with wrk.

Prints one table:
  1. the crypto bound measured now (tests/bench/cryptobound): each core
     timed alone, and every core at once;
  2. password grant throughput at c = 1, 2, 8, 32 with p50/p99 and the
     ratio to each bound, the responders' CPU per login and the cores'
     idle time during the row (/proc/stat);
  3. responder CPU per request outside the crypto, also measured directly
     against a tenant with the smallest hash policy, and split by perf's
     samples of those rows (tests/bench/rowprofile.py);
  4. refresh-token grant throughput, ES256 and RS256 non-rotating and
     ES256 rotating, each ES256 row against a null FastCGI responder
     (tests/bench/nullfcgi) measured just before and after it;
  5. plain-CGI per-request overhead (BENCH_ONLY=cgi runs it alone);
  6. responder RSS;
  7. overload (c = 64, 256): served/shed, p99 of the served requests,
     with lighttpd's processes and with a LATCHKEY_CHILDREN supervisor,
     clients retrying at once or honouring Retry-After;
  8. DPoP (RFC 9449): the password grant (c = 2) and the ES256
     non-rotating refresh grant (c = 32) with a DPoP proof each, against
     the same rows without.  Proofs are single use, so they are made
     before wrk starts (ES256, Python's cryptography) and each is sent
     once: their making is outside the measured path;
  9. the password grant at an AD/LDAP connection against a real slapd,
     with slapd's own bind and search times of the same run
     (tests/bench/ldap_bench.py);
 11. the store backends: the password and rotating refresh grants on
     Berkeley DB and on PostgreSQL, and the refresh grant through one and
     through two web servers against one PostgreSQL
     (tests/bench/pg_bench.py; BENCH_ONLY=pg runs it alone).

and writes the figures as JSON to $B/bench.json (keys and their check:
tests/bench/bench_json.py).

Settings (environment): B (build dir, default build), BENCH_SECONDS (per
run, default 10), BENCH_PROCS (lighttpd max-procs, default 4 x cores),
BENCH_CHILDREN (workers of the supervisor in 7, default 64 x cores, at most
256), BENCH_ONLY (mfa-otp: section 10; cgi: section 5; pg: section 11;
password and/or overload, comma-separated: sections 1 and 2, and 7, on
one tenant, the table only).
"""
import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import rowprofile

ROOT = Path(__file__).resolve().parents[2]

# A responder started as root refuses to serve unless LATCHKEY_USER names
# the user to become (latchkey.fcgi(8)).  Run as root (CI, containers),
# the suite's homes belong to root, so it names root deliberately;
# test_privileges.py starts responders that drop to another user.
if os.geteuid() == 0:
    os.environ.setdefault("LATCHKEY_USER", "root")
B = Path(os.environ.get("B", "build"))
B = B if B.is_absolute() else ROOT / B
FCGI = B / "cgi-bin" / "latchkey.fcgi"
CTL = B / "db" / "latchkeyctl"
CRYPTOBOUND = B / "tests" / "bench" / "cryptobound"
NULLFCGI = B / "tests" / "bench" / "nullfcgi"
CONF = ROOT / "httpd-conf" / "lighttpd.conf"
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
CORES = os.cpu_count() or 1
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
PROCS = int(os.environ.get("BENCH_PROCS", str(4 * CORES)))
# Enough workers for the logins the budget lets wait (slots x (1 + budget
# / hash time): about 100 on two cores), so that overload reaches them.
OV_CHILDREN = int(os.environ.get("BENCH_CHILDREN", str(min(256, 64 * CORES))))
# The tenant's login_queue_budget_ms: admit.c's default.
BUDGET_MS = 1000

CLIENT, SECRET = "bench-app", "bench-app-secret-Tq7Wm2Xc9Lp4Rz6Y"
STATIC, STATIC_SECRET = "bench-static", "bench-static-secret-Hj4Nv8Qe1Ks5"
API = "https://api.bench.latchkey/"
USER, PW = "user@bench.example", "bench password: Vb3Nm6Qw9Er2"
CONN = "Username-Password-Authentication"
CLK = os.sysconf("SC_CLK_TCK")
# The password grant's request (scope openid: an access and an ID token).
PW_BODY = urllib.parse.urlencode({"grant_type": "password",
    "client_id": CLIENT, "client_secret": SECRET, "username": USER,
    "password": PW, "audience": API, "scope": "openid"})

LUA = r"""
-- BENCH_MODE: "plain" sends the bodies round-robin; "honour" also waits
-- the 503's Retry-After (seconds, 1 when absent) before a next request,
-- as a client honouring it would; "rotate" sends refresh-token bodies whose token is
-- the one the last 200 returned (each token is used once: rotation),
-- starting from this thread's share of the BENCH_BODIES tokens; "dpop"
-- sends this thread's share of the BENCH_BODIES lines "body<TAB>proof"
-- once each, the proof as the DPoP header (a proof is single use);
-- "once" sends this thread's share of the bodies once each (mfa-otp: an
-- mfa_token and a code are good for one request).
local mode = os.getenv("BENCH_MODE") or "plain"
local bodies = {}
local n = 0
local i = 0
local threads = {}
local sample_503 = nil
local backoff, bhead, btail = {}, 1, 0
local queue, qhead, qtail = {}, 1, 0
local prefix = os.getenv("BENCH_PREFIX") or ""
local last = nil
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads - 1)
end
function init(args)
  local id = wrk.thread:get("id")
  local nth = tonumber(os.getenv("BENCH_THREADS") or "1")
  local k = 0
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    if mode == "rotate" or mode == "dpop" or mode == "once" then
      if k % nth == id then qtail = qtail + 1; queue[qtail] = line end
    else
      n = n + 1; bodies[n] = line
    end
    k = k + 1
  end
end
function request()
  local body
  if mode == "dpop" then
    if qhead <= qtail then
      last = queue[qhead]; queue[qhead] = nil; qhead = qhead + 1
    end
    local b, p = string.match(last or "none\tnone", "^([^\t]*)\t(.*)$")
    return wrk.format("POST", nil,
      {["Content-Type"] = "application/x-www-form-urlencoded", ["DPoP"] = p}, b)
  end
  if mode == "rotate" or mode == "once" then
    if qhead <= qtail then
      last = queue[qhead]; queue[qhead] = nil; qhead = qhead + 1
    end
    body = prefix .. (last or "none")
  else
    i = i % n + 1
    body = bodies[i]
  end
  return wrk.format(os.getenv("BENCH_METHOD") or "POST", nil,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
function delay()
  if bhead <= btail then
    local ms = backoff[bhead]; backoff[bhead] = nil; bhead = bhead + 1
    return ms
  end
  return 0
end
function response(status, headers, body)
  if status == 503 then
    if mode == "honour" then
      btail = btail + 1
      backoff[btail] = 1000 * (tonumber(headers["Retry-After"] or "1") or 1)
    end
    if sample_503 == nil then
      sample_503 = (headers["Retry-After"] or "-") .. "|" .. body
      wrk.thread:set("sample_503", sample_503)
    end
  end
  if mode == "rotate" and status == 200 then
    local t = string.match(body, '"refresh_token":"([^"]+)"')
    if t then qtail = qtail + 1; queue[qtail] = t end
  end
end
function done(summary, latency, requests)
  local s = "-"
  for _, t in ipairs(threads) do
    local v = t:get("sample_503")
    if v then s = v end
  end
  io.write(string.format(
    "BENCH {\"requests\":%d,\"duration_us\":%d,\"non2xx\":%d,\"errors\":%d," ..
    "\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
  io.write("SAMPLE503 " .. s .. "\n")
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctl(home, *args):
    subprocess.run([str(CTL), "-d", str(home), *args], check=True,
        capture_output=True, text=True)


def tenant(issuer, alg):
    return {
        "tenant": {"issuer": issuer, "alg": alg, "default_directory": CONN,
                   "hash": {"t": 2, "m": 19456, "p": 1},
                   # One user logs in from 127.0.0.1 over and over: the
                   # attack-protection rate limits (lib/security/guard.c) stay off.
                   "rate_limit": {"enabled": False},
                   "suspicious_ip": {"enabled": False}},
        "connections": [{"name": CONN, "strategy": "auth0",
                         "enabled_clients": [CLIENT, STATIC]}],
        "clients": [
            {"name": "Bench", "client_id": CLIENT, "client_secret": SECRET,
             "app_type": "regular_web",
             "token_endpoint_auth_method": "client_secret_post",
             "grant_types": ["password", "refresh_token"],
             "refresh_token": {"rotation_type": "rotating"}},
            {"name": "Bench static", "client_id": STATIC,
             "client_secret": STATIC_SECRET, "app_type": "regular_web",
             "token_endpoint_auth_method": "client_secret_post",
             "grant_types": ["password", "refresh_token"],
             "refresh_token": {"rotation_type": "non-rotating"}}],
        "apis": [{"identifier": API, "name": "Bench API",
                  "scopes": ["read:things"], "token_lifetime": 3600,
                  "allow_offline_access": True}],
        "users": [{"connection": CONN, "email": USER, "password": PW,
                   "name": "Bench User", "email_verified": True}],
    }


class Lighttpd:
    """lighttpd from httpd-conf/lighttpd.conf, max-procs PROCS, with an
    access log of status and microseconds for the overload figures."""

    def __init__(self, tmp, home, fcgi, procs=PROCS, cgi=False, children=0,
            database=None):
        self.port = free_port()
        self.run = Path(tempfile.mkdtemp(dir=tmp, prefix="run-"))
        conf = CONF.read_text()
        if database:
            # The responders' store: this PostgreSQL database (a libpq
            # connection string) instead of the home's Berkeley DB.
            conf, n = re.subn(r'("bin-environment"\s*=>\s*\()',
                r'\1\n\t\t\t"LATCHKEY_DATABASE" => "%s",' % database, conf)
            assert n == 1, "bin-environment not found in lighttpd.conf"
        if children:
            # One supervisor (LATCHKEY_CHILDREN) with `children` workers
            # on one socket instead of `procs` processes on their own.
            procs = 1
            conf, n = re.subn(r'("bin-environment"\s*=>\s*\()',
                r'\1\n\t\t\t"LATCHKEY_CHILDREN" => "%d",' % children, conf)
            assert n == 1, "bin-environment not found in lighttpd.conf"
        self.children = children
        conf = re.sub(r'"max-procs"\s*=>\s*\d+', '"max-procs" => %d' % procs, conf)
        conf += '\naccesslog.format = "%s %D %{begin:usec}t"\n'
        if cgi:
            (self.run / "htdocs").mkdir()
            os.symlink(fcgi, self.run / "htdocs" / "latchkey.cgi")
            conf += ('server.modules += ("mod_cgi", "mod_setenv")\n'
                     'setenv.add-environment = ("LATCHKEY_HOME" => var.latchkey_home%s)\n'
                     % (', "LATCHKEY_USER" => "%s"' % os.environ["LATCHKEY_USER"]
                        if os.environ.get("LATCHKEY_USER") else "") +
                     '$HTTP["url"] =~ "^/cgi/" {\n'
                     '  alias.url = ("/cgi/" => var.latchkey_rundir + "/htdocs/")\n'
                     '  cgi.assign = (".cgi" => "")\n'
                     '  fastcgi.server = ()\n}\n'
                     'server.modules += ("mod_alias")\n')
        self.conf = self.run / "lighttpd.conf"
        self.conf.write_text(conf)
        env = dict(os.environ, LATCHKEY_PORT=str(self.port),
            LATCHKEY_FCGI=str(fcgi), LATCHKEY_HOME=str(home),
            LATCHKEY_RUNDIR=str(self.run))
        self.log = open(self.run / "stderr.log", "ab")
        self.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", str(self.conf)],
            env=env, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log, start_new_session=True)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/.well-known/openid-configuration",
                    timeout=5).read()
                return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("bench: lighttpd did not start; see %s" % self.run)

    @staticmethod
    def kids(pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def supervisors(self):
        """The processes lighttpd started (supervisors with children)."""
        return self.kids(self.proc.pid) if self.children else []

    def responders(self):
        """The processes that serve requests."""
        if not self.children:
            return self.kids(self.proc.pid)
        return [w for s in self.kids(self.proc.pid) for w in self.kids(s)]

    def wait_open(self, home, timeout=60):
        """Wait until every responder has opened the Berkeley DB
        environment at home: its pid is in the registry (__db.register,
        a slot of 25 bytes per process, "X" when free; DB_REGISTER).  A
        supervisor's workers open it one after another as they start;
        those still opening accept nothing, and the rows would measure
        the web server queueing clients for them."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                reg = (Path(home) / "__db.register").read_bytes()
            except OSError:
                reg = b""
            seen = {int(reg[i:i + 24]) for i in range(0, len(reg) - 24, 25)
                if reg[i:i + 24].strip().isdigit()}
            want = set(self.responders())
            if want and want <= seen:
                return
            time.sleep(0.1)
        raise SystemExit("bench: responders did not open %s in %d s; see %s"
            % (home, timeout, self.run))

    def cpu(self):
        """CPU seconds (user + system) of the responder processes."""
        total = 0
        for pid in self.responders():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                pass
        return total / CLK

    def rss_kib(self):
        out = []
        for pid in self.responders():
            try:
                st = Path("/proc/%d/status" % pid).read_text()
            except OSError:
                continue
            rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1))
            hwm = int(re.search(r"VmHWM:\s+(\d+)", st).group(1))
            anon = int(re.search(r"RssAnon:\s+(\d+)", st).group(1))
            shm = int(re.search(r"RssShmem:\s+(\d+)", st).group(1))
            pss = hrss = hpss = 0
            try:
                name = ""
                for line in Path("/proc/%d/smaps" % pid).read_text().splitlines():
                    f = line.split()
                    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                        name = f[5] if len(f) > 5 else ""
                    elif f[0] in ("Rss:", "Pss:"):
                        kib = int(f[1])
                        hash_slot = name.startswith("/dev/shm/latchkey-")
                        if f[0] == "Pss:":
                            pss += kib
                            hpss += kib if hash_slot else 0
                        elif hash_slot:
                            hrss += kib
            except (OSError, ValueError, IndexError):
                pass
            out.append((rss, hwm, anon, shm, pss, hrss, hpss))
        return out

    def access(self):
        """[(status, microseconds, start in microseconds since the
        epoch)] since the last call."""
        p = self.run / "access.log"
        try:
            lines = p.read_text().splitlines()
        except OSError:
            return []
        p.write_text("")
        rows = []
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                rows.append((int(parts[0]), int(parts[1]), int(parts[2])))
        return rows

    def stop(self):
        if self.proc.poll() is not None:
            return
        kids = self.responders()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        # lighttpd ends its responders; make sure (they are ours).
        deadline = time.time() + 5
        for pid in kids:
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log.close()


def remove_slot_memory(home):
    """Remove home's hash slot memory (lib/security/admit.c: /dev/shm objects the
    last responder removes when it stops; one SIGKILLed leaves them)."""
    try:
        st = os.stat(Path(home) / "run" / "admission")
    except OSError:
        return 0
    pre = "latchkey-%d-%d-%d-" % (os.geteuid(), st.st_dev, st.st_ino)
    gone = 0
    for n in os.listdir("/dev/shm"):
        if n.startswith(pre):
            os.unlink("/dev/shm/" + n)
            gone += 1
    return gone


def post(base, path, form):
    req = urllib.request.Request(base + path, urllib.parse.urlencode(form).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw[:200].decode(errors="replace")}


def wrk(tmp, url, bodies, conc, seconds=SECONDS, method="POST", mode="plain",
        prefix=""):
    # Files of its own: section 11 runs two at once, and a script
    # rewritten under a wrk that was reading it failed that run.
    run = "%d-%d" % (time.monotonic_ns(), threading.get_ident())
    script = Path(tmp) / ("bench-%s.lua" % run)
    script.write_text(LUA)
    bf = Path(tmp) / ("bodies-%s.txt" % run)
    bf.write_text("\n".join(bodies) + "\n")
    threads = 1 if conc < 8 else 2
    env = dict(os.environ, BENCH_BODIES=str(bf), BENCH_METHOD=method,
        BENCH_MODE=mode, BENCH_PREFIX=prefix, BENCH_THREADS=str(threads))
    p = subprocess.run([WRK, "-t%d" % threads, "-c%d" % conc, "-d%ds" % seconds,
        "--timeout", "30s", "-s", str(script), url], env=env,
        capture_output=True, text=True)
    m = re.search(r"^BENCH (.*)$", p.stdout, re.M)
    if not m:
        raise SystemExit("bench: wrk failed:\n" + p.stdout + p.stderr)
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["ok_rps"] = (r["requests"] - r["non2xx"]) / (r["duration_us"] / 1e6)
    s = re.search(r"^SAMPLE503 (.*)$", p.stdout, re.M)
    r["sample503"] = s.group(1) if s else "-"
    return r


def pct(vals, q):
    if not vals:
        return 0.0
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(q / 100.0 * len(vals)))]


def null_ceiling(tmp, nul):
    """The null FastCGI responder's req/s at c = 32 (section 4's
    ceiling), half a row long."""
    return wrk(tmp, nul.base + "/oauth/token", ["grant_type=refresh_token"],
        32, seconds=max(3, SECONDS // 2))["rps"]


def row_ceiling(r):
    """A refresh row's ceiling: the mean of the null responder's measured
    just before and after it."""
    return sum(r["ceilings"]) / len(r["ceilings"])


def refresh_tokens(base, client, secret, n=64):
    """n refresh tokens of the bench user for client, by password logins."""
    toks = []
    for _ in range(n):
        st, body = post(base, "/oauth/token", {"grant_type": "password",
            "client_id": client, "client_secret": secret, "username": USER,
            "password": PW, "audience": API, "scope": "offline_access read:things"})
        assert st == 200 and "refresh_token" in body, (st, body)
        toks.append(body["refresh_token"])
    return toks


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def dpop_proofs(htu, n):
    """n single-use ES256 DPoP proofs for POST htu (RFC 9449 4.2), made
    with Python's cryptography before the run; iat a few seconds ahead
    (the server accepts 5), so that they stay good for a minute."""
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256",
           "x": b64u(pub.x.to_bytes(32, "big")),
           "y": b64u(pub.y.to_bytes(32, "big"))}
    hdr = b64u(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk},
        separators=(",", ":")).encode())
    iat = int(time.time()) + 4
    tag = os.urandom(6).hex()
    out = []
    for i in range(n):
        body = b64u(json.dumps({"jti": "%s-%d" % (tag, i), "htm": "POST",
            "htu": htu, "iat": iat}, separators=(",", ":")).encode())
        signing = hdr + "." + body
        r, s = decode_dss_signature(key.sign(signing.encode(),
            ec.ECDSA(hashes.SHA256())))
        out.append(signing + "." + b64u(r.to_bytes(32, "big") +
            s.to_bytes(32, "big")))
    return out


def dpop_run(tmp, base, bodies, rate, conc, issuer="http://127.0.0.1/"):
    """wrk with a fresh proof per request: enough for rate req/s over
    the run and some, bodies round-robin."""
    n = int(rate * SECONDS * 1.5) + 200
    proofs = dpop_proofs(issuer + "oauth/token", n)
    lines = ["%s\t%s" % (bodies[i % len(bodies)], p) for i, p in enumerate(proofs)]
    r = wrk(tmp, base + "/oauth/token", lines, conc, mode="dpop")
    r["proofs"] = n
    return r


def cryptobound(home, sigs, n=30):
    """tests/bench/cryptobound's figures: each core's, and the bound."""
    p = subprocess.run([str(CRYPTOBOUND), "-d", str(home), "-n", str(n),
        "-s", str(sigs)], capture_output=True, text=True, check=True)
    return dict(line.split(None, 1) for line in p.stdout.splitlines())


def per_core(cb, what="verify_ms"):
    """ "core0 23.01, core1 20.50" from a cryptobound's core<N>_<what>."""
    return ", ".join("core%s %.2f" % (k[4:-len(what) - 1], float(v))
        for k, v in cb.items() if k.startswith("core") and k.endswith("_" + what))


GRANT_MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
# Timings of the cheap policy's crypto (section 3b): about 0.5 ms each.
CHEAP_N = 200
MFA_USERS = int(os.environ.get("BENCH_MFA_USERS", "1500"))
# Each user's code is good for one request, so the rows of section 10 run
# for BENCH_MFA_SECONDS only: 1500 users last about 2 s at 700 req/s.
MFA_SECONDS = int(os.environ.get("BENCH_MFA_SECONDS", "2"))


def mfa_tenant(t, n):
    """t with n users who must pass a second factor and the mfa-otp grant
    for the bench client (docs/COMPAT.md 13)."""
    for c in t["clients"]:
        if c["client_id"] == CLIENT:
            c["grant_types"] = c["grant_types"] + [GRANT_MFA_OTP]
    t["users"] += [{"connection": CONN, "email": "mfa-%d@bench.example" % i,
        "password": PW, "mfa": "always"} for i in range(n)]
    return t


def totp(secret, step):
    """RFC 6238 TOTP (HMAC-SHA1, 6 digits) of the base32 secret at step."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) %
        10**6)


def mfa_token(base, i):
    st, body = post(base, "/oauth/token", {"grant_type": "password",
        "client_id": CLIENT, "client_secret": SECRET,
        "username": "mfa-%d@bench.example" % i, "password": PW,
        "audience": API, "scope": "openid"})
    assert st == 403 and "mfa_token" in body, (st, body)
    return body["mfa_token"]


def mfa_enrol(base, i):
    """Enrol user i's authenticator app and confirm it; its secret."""
    tok = mfa_token(base, i)
    req = urllib.request.Request(base + "/mfa/associate", json.dumps(
        {"authenticator_types": ["otp"]}).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + tok})
    with urllib.request.urlopen(req, timeout=60) as r:
        secret = json.loads(r.read())["secret"]
    st, body = post(base, "/oauth/token", {"grant_type": GRANT_MFA_OTP,
        "client_id": CLIENT, "client_secret": SECRET, "mfa_token": tok,
        "otp": totp(secret, int(time.time()) // 30)})
    assert st == 200, (st, body)
    return secret


def mfa_bodies(base, secrets):
    """One mfa-otp body per user: a fresh mfa_token and the code of the
    next 30 s step (the server takes a step either side, and each
    authenticator a step once), made before the measured window."""
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        toks = list(ex.map(lambda i: mfa_token(base, i), range(len(secrets))))
    step = int(time.time()) // 30 + 1
    return [urllib.parse.urlencode({"grant_type": GRANT_MFA_OTP,
        "client_id": CLIENT, "client_secret": SECRET, "mfa_token": t,
        "otp": totp(s, step)}) for t, s in zip(toks, secrets)], step


def mfa_row(tmp, srv, pw_body, conc):
    """The password grant, then the mfa-otp grant, at concurrency conc on
    one server: requests per second and CPU milliseconds per answer."""
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        secrets = list(ex.map(lambda i: mfa_enrol(srv.base, i),
            range(MFA_USERS)))
    rows = []
    for what in ("password", "mfa-otp"):
        if what == "password":
            bodies, mode = [pw_body], "plain"
        else:
            bodies, step = mfa_bodies(srv.base, secrets)
            # Wait for the step the codes were made for: from then on
            # they are good for 60 s.
            while int(time.time()) // 30 < step:
                time.sleep(0.2)
            mode = "once"
        cpu0 = srv.cpu()
        r = wrk(tmp, srv.base + "/oauth/token", bodies, conc,
            seconds=MFA_SECONDS, mode=mode)
        r["cpu_ms"] = (srv.cpu() - cpu0) * 1e3 / max(1,
            r["requests"] - r["non2xx"])
        rows.append((what, r))
    return rows


def mfa_lines(tmp):
    """Section 10: the mfa-otp grant against the password grant, on a
    tenant of its own (the cheap hash, so that enrolling the users takes
    seconds and the password row shows the request around the hash)."""
    srv = None
    out = ["10. MFA: the mfa-otp grant (one mfa_token and code per user, made"
        " before the run) against the password grant, cheap hash"]
    try:
        home = Path(tmp) / "home-mfa"
        tf = Path(tmp) / "tenant-mfa.json"
        t = mfa_tenant(tenant("http://127.0.0.1/", "RS256"), MFA_USERS)
        t["tenant"]["hash"] = {"t": 1, "m": 8, "p": 1}
        tf.write_text(json.dumps(t))
        ctl(home, "import", str(tf))
        srv = Lighttpd(tmp, home, FCGI)
        pw_body = urllib.parse.urlencode({"grant_type": "password",
            "client_id": CLIENT, "client_secret": SECRET, "username": USER,
            "password": PW, "audience": API, "scope": "openid"})
        conc = int(os.environ.get("BENCH_MFA_CONC", "2"))
        for what, r in mfa_row(tmp, srv, pw_body, conc):
            out.append("   %-9s c=%d %6d requests %5d non-2xx %8.1f req/s"
                " cpu/req %.2f ms p50 %.1f ms p99 %.1f ms" % (what, conc,
                r["requests"], r["non2xx"], r["ok_rps"], r["cpu_ms"],
                r["p50_us"] / 1e3, r["p99_us"] / 1e3))
        out.append("   (%d users; mfa-otp non-2xx: the users ran out, raise"
            " BENCH_MFA_USERS)" % MFA_USERS)
    finally:
        if srv is not None:
            srv.stop()
    return out


def cgi_section(tmp, home, servers):
    """Section 5: GET discovery one at a time through FastCGI and through
    mod_cgi of the same lighttpd; the two wrk results."""
    cg = Lighttpd(tmp, home, FCGI, cgi=True)
    servers.append(cg)
    fc = wrk(tmp, cg.base + "/.well-known/openid-configuration", [""], 1,
        seconds=max(3, SECONDS // 2), method="GET")
    ci = wrk(tmp, cg.base + "/cgi/latchkey.cgi/.well-known/openid-configuration",
        [""], 1, seconds=max(3, SECONDS // 2), method="GET")
    if ci["non2xx"] or fc["non2xx"]:
        raise SystemExit("bench: CGI run failed: %s; log in %s" % (
            urllib.request.urlopen(cg.base + "/cgi/latchkey.cgi/.well-known/"
            "openid-configuration").read()[:300], cg.run))
    cg.stop()
    servers.remove(cg)
    return fc, ci


def cgi_only():
    """BENCH_ONLY=cgi: section 5 alone."""
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    servers = []
    try:
        home = Path(tmp) / "home-ES256"
        tf = Path(tmp) / "tenant-ES256.json"
        tf.write_text(json.dumps(tenant("http://127.0.0.1/", "ES256")))
        ctl(home, "import", str(tf))
        fc, ci = cgi_section(tmp, home, servers)
        print("5. plain CGI (GET openid-configuration, c=1): FastCGI %.3f ms,"
            " CGI %.3f ms: CGI overhead %.3f ms/request" % (fc["p50_us"] / 1e3,
            ci["p50_us"] / 1e3, (ci["p50_us"] - fc["p50_us"]) / 1e3))
    finally:
        cleanup(servers, tmp)


def cleanup(servers, tmp):
    """Stop the servers a run started and remove its directory (kept
    when LATCHKEY_KEEP_TMP is set)."""
    for s in servers:
        s.stop()
    if not os.environ.get("LATCHKEY_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)


def mfa_only():
    """BENCH_ONLY=mfa-otp: section 10 alone."""
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    try:
        print("\n".join(mfa_lines(tmp)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cpu_times():
    """(busy, idle) seconds of all the cores together, from /proc/stat
    (idle: idle + iowait; steal counts as neither)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    busy = sum(v[:8]) - idle - v[7]
    return busy / CLK, idle / CLK


def password_rows(tmp, srv, home, cb):
    """Section 2: the password grant at c = 1, 2, 8, 32 on srv, each row
    with the bounds measured just before and after it (one core at a
    time and every core at once), the responders' CPU per login and the
    machine's busy and idle core time during the row.  The rows and the
    last cryptobound."""
    st, body = post(srv.base, "/oauth/token", dict(urllib.parse.parse_qsl(PW_BODY)))
    assert st == 200 and "id_token" in body, (st, body)
    # This VM's cores drift, one of them by half (argon2id 22 to 34 ms
    # a verify on core 0 within a minute), so each row is set against
    # the mean of the bounds measured just before and just after it.
    rows = []
    prev = cb
    for c in (1, 2, 8, 32):
        srv.access()
        cpu0 = srv.cpu()
        busy0, idle0 = cpu_times()
        r = wrk(tmp, srv.base + "/oauth/token", [PW_BODY], c)
        busy1, idle1 = cpu_times()
        cpu = srv.cpu() - cpu0
        acc = srv.access()
        ok = [us for s, us, _ in acc if s == 200]
        n = max(1, r["requests"] - r["non2xx"])
        r["cpu_ms"] = cpu * 1e3 / n
        r["busy_ms"] = (busy1 - busy0) * 1e3 / n
        r["idle_pct"] = 100 * (idle1 - idle0) / max(1e-9,
            busy1 - busy0 + idle1 - idle0)
        r["acc_p99_ms"] = pct(ok, 99) / 1e3
        nxt = cryptobound(home, 2, n=15)
        r["bound"] = (float(prev["bound_rps"]) + float(nxt["bound_rps"])) / 2
        r["bound_conc"] = (float(prev["bound_concurrent_rps"]) +
            float(nxt["bound_concurrent_rps"])) / 2
        prev = nxt
        rows.append((c, r))
    return rows, prev


def overload_rows(tmp, srv, home, servers):
    """Section 7: c = 64 and 256 on srv (lighttpd's processes, clients
    retrying at once), then on a LATCHKEY_CHILDREN supervisor (every
    request reaches a worker that admits or sheds it; none waits in
    lighttpd) with such clients and with clients that honour
    Retry-After."""
    rows = []
    sup = Lighttpd(tmp, home, FCGI, children=OV_CHILDREN)
    servers.append(sup)
    sup.wait_open(home)
    post(sup.base, "/oauth/token", dict(urllib.parse.parse_qsl(PW_BODY)))
    for label, s3, mode in (("max-procs %d" % PROCS, srv, "plain"),
            ("%d workers" % OV_CHILDREN, sup, "plain"),
            ("%d workers" % OV_CHILDREN, sup, "honour")):
        for c in (64, 256):
            s3.access()
            cpu0 = s3.cpu()
            busy0, idle0 = cpu_times()
            t0 = time.time() * 1e6
            r = wrk(tmp, s3.base + "/oauth/token", [PW_BODY], c, mode=mode)
            busy1, idle1 = cpu_times()
            n = max(1, r["requests"] - r["non2xx"])
            r["cpu_ms"] = (s3.cpu() - cpu0) * 1e3 / n
            r["busy_ms"] = (busy1 - busy0) * 1e3 / n
            r["idle_pct"] = 100 * (idle1 - idle0) / max(1e-9,
                busy1 - busy0 + idle1 - idle0)
            acc = s3.access()
            ok = [us for st, us, _ in acc if st == 200]
            shed = [us for st, us, _ in acc if st in (429, 503)]
            other = [st for st, us, _ in acc if st not in (200, 429, 503)]
            first, after = first_second(acc, t0)
            r.update(served=len(ok), shed=len(shed), other=len(other),
                served_p50=pct(ok, 50) / 1e3, served_p99=pct(ok, 99) / 1e3,
                shed_p99=pct(shed, 99) / 1e3, shed_p99_first=pct(first, 99) / 1e3,
                shed_p99_after=pct(after, 99) / 1e3, label=label,
                clients="honour Retry-After" if mode == "honour" else "retry at once")
            rows.append((c, r))
    sup.stop()
    servers.remove(sup)
    rows.append((256, null_row(tmp, home, servers)))
    return rows


def first_second(acc, t0):
    """The refusals' times (us) of the requests that started in the row's
    first second (it started at t0, us since the epoch), when its
    clients' first requests arrive together, and of those that started
    later."""
    shed = [(us, b - t0 < 1e6) for st, us, b in acc if st in (429, 503)]
    return [us for us, f in shed if f], [us for us, f in shed if not f]


def null_row(tmp, home, servers):
    """Section 7's floor: the null FastCGI responder (an empty answer, no
    store, no crypto) at c = 256 through the same lighttpd: no refusal
    can be answered faster than this with that many clients at once."""
    nul = Lighttpd(tmp, home, NULLFCGI)
    servers.append(nul)
    try:
        nul.access()
        r = wrk(tmp, nul.base + "/oauth/token", [PW_BODY], 256)
        ok = [us for st, us, _ in nul.access() if st == 200]
    finally:
        nul.stop()
        servers.remove(nul)
    r.update(served=len(ok), shed=0, other=r["non2xx"],
        served_p50=pct(ok, 50) / 1e3, served_p99=pct(ok, 99) / 1e3,
        shed_p99=0.0, shed_p99_first=0.0, shed_p99_after=0.0,
        label="null (%d)" % PROCS, clients="retry at once",
        sample503="-")
    return r


def bound_lines(cb, crypto_ms, bound):
    """Section 1's table lines."""
    out = []
    P = out.append
    P("1. crypto bound (policy %s, %s; timed on each core in turn)"
        % (cb["policy"], cb["alg"]))
    P("   argon2id verify            %8.2f ms   (harmonic mean of %s ms)"
        % (float(cb["verify_ms"]), per_core(cb)))
    P("   RS256 sign (EVP)           %8.3f ms   latchkey token_sign %.3f ms"
        % (float(cb["sign_rs256_ms"]), float(cb["token_sign_rs256_ms"])))
    P("   ES256 sign (EVP)           %8.3f ms   latchkey token_sign %.3f ms"
        % (float(cb["sign_es256_ms"]), float(cb["token_sign_es256_ms"])))
    P("   per password response      %8.2f ms   (verify + %s signatures)"
        % (crypto_ms, cb["sigs"]))
    P("   bound                      %8.1f req/s (sum over %d cores of"
        " 1 / per-response crypto)" % (bound, int(cb["cores"])))
    P("   every core at once: verify %.2f ms (%s ms), bound %.1f req/s"
        " (one pinned process per core, together)" % (
        float(cb["verify_conc_ms"]), per_core(cb, "verify_conc_ms"),
        float(cb["bound_concurrent_rps"])))
    P("")
    return out


def password_lines(pw_rows, cb_after):
    """Section 2's table lines."""
    out = []
    P = out.append
    P("2. password grant (scope openid: access + ID token, RS256)")
    P("   %4s %8s %7s %7s %7s %6s %7s %6s %5s %6s %6s %5s" % ("c", "ok req/s",
        "p50 ms", "p99 ms", "bound", "ratio", "b.conc", "r.conc", "shed",
        "cpu ms", "busy", "idle%"))
    for c, r in pw_rows:
        P("   %4d %8.1f %7.1f %7.1f %7.1f %6.3f %7.1f %6.3f %5d %6.2f %6.2f"
            " %5.1f" % (c, r["ok_rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3,
            r["bound"], r["ok_rps"] / r["bound"], r["bound_conc"],
            r["ok_rps"] / r["bound_conc"], r["non2xx"], r["cpu_ms"],
            r["busy_ms"], r["idle_pct"]))
    best = max(r["ok_rps"] / r["bound"] for c, r in pw_rows)
    P("   best ratio to bound: %.3f (target >= 0.97); each row's bound is the"
        " mean of those measured just before and after it" % best)
    P("   (bound: each core timed alone; b.conc: every core at once; cpu ms:"
        " responders' CPU a login; busy: every process's CPU a login;"
        " idle%: the cores' idle time during the row)")
    P("   bound after the last row: %.1f req/s (verify %s ms)"
        % (float(cb_after["bound_rps"]), per_core(cb_after)))
    P("")
    return out


def overload_lines(ov_rows, cb):
    """Section 7's table lines."""
    out = []
    P = out.append
    P("7. overload (password grant: a login waits while its predicted wait is within"
        " the budget, %d ms, beyond it is shed with 503 + Retry-After)" % BUDGET_MS)
    P("   %-13s %-19s %4s %9s %7s %7s %6s %9s %9s %9s %9s %9s" % (
        "responders", "clients", "c", "ok req/s", "served", "shed", "other",
        "srv p50", "srv p99", "shed p99", "1st s", "after"))
    for c, r in ov_rows:
        P("   %-13s %-19s %4d %9.1f %7d %7d %6d %9.1f %9.1f %9.2f %9.2f %9.2f"
            % (r["label"], r["clients"], c, r["ok_rps"], r["served"],
            r["shed"], r["other"], r["served_p50"], r["served_p99"],
            r["shed_p99"], r["shed_p99_first"], r["shed_p99_after"]))
    P("   (ms, from lighttpd's access log: time inside the web server,"
        " queueing included; null: the empty FastCGI responder, the floor"
        " of any answer at that concurrency; 1st s / after: the shed p99 of"
        " the requests begun in the row's first second, when every client's"
        " first request arrives at once, and of the later ones)")
    P("   target: refusals within 10 ms, served p99 <= budget + 2 x verify"
        " = %.1f ms; a 503 sample: %s" % (BUDGET_MS + 2 * float(cb["verify_ms"]),
        next((r["sample503"] for c, r in reversed(ov_rows)
            if r["sample503"] != "-"), "-")[:160]))
    return out


def password_only(sections):
    """BENCH_ONLY=password,overload (either or both): sections 1 and 2,
    and 7, on the RS256 tenant alone."""
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    servers = []
    out = ["latchkey bench (%s): %s, %d cores, %d s per run, lighttpd"
        " max-procs %d, wrk" % (",".join(sorted(sections)),
        time.strftime("%Y-%m-%d %H:%M"), CORES, SECONDS, PROCS), ""]
    try:
        home = Path(tmp) / "home-RS256"
        tf = Path(tmp) / "tenant-RS256.json"
        tf.write_text(json.dumps(tenant("http://127.0.0.1/", "RS256")))
        ctl(home, "import", str(tf))
        cb = cryptobound(home, 2)
        out.extend(bound_lines(cb, float(cb["crypto_ms"]), float(cb["bound_rps"])))
        srv = Lighttpd(tmp, home, FCGI)
        servers.append(srv)
        if "password" in sections:
            pw_rows, cb_after = password_rows(tmp, srv, home, cb)
            out.extend(password_lines(pw_rows, cb_after))
        if "overload" in sections:
            out.extend(overload_lines(overload_rows(tmp, srv, home, servers), cb))
    finally:
        cleanup(servers, tmp)
    print("\n".join(out))


def outside_figures(r):
    """Section 3's c = 2 row, the smallest hash: the responders' CPU a
    login outside the crypto, by perf's samples of the row when there are
    some (rowprofile.py), else the crypto timed around the row
    subtracted; and each measure's figures."""
    sub = r["cpu_ms"] - r["crypto_ms"]
    parts = r.get("parts") or {}
    d = {"subtracted_ms": sub, "method": "subtracted"}
    if parts.get("samples"):
        d.update(method="perf samples", samples=parts["samples"],
            parts_ms={k: r["cpu_ms"] * parts[k] for k in rowprofile.PARTS})
        d["sampled_ms"] = r["cpu_ms"] * (1 - parts["crypto"])
    return d


def bench_figures(cb, pw_rows, ov_rows, outside, nul_rps, rf_rows,
        cgi_ms, rss, hash_ms):
    """The figures of tests/bench/bench_json.py's SHAPE."""
    bound = float(cb["bound_rps"])
    bound_conc = float(cb["bound_concurrent_rps"])

    def row(c, r, rps, bnd, bconc, shed, p50, p99):
        return {"c": c, "rps": rps, "bound_rps": bnd, "ratio": rps / bnd,
            "bound_concurrent_rps": bconc, "ratio_concurrent": rps / bconc,
            "shed": shed, "p50_ms": p50, "p99_ms": p99,
            "cpu_ms": r["cpu_ms"], "busy_ms": r["busy_ms"],
            "idle_pct": r["idle_pct"]}
    pw = [row(c, r, r["ok_rps"], r["bound"], r["bound_conc"], r["non2xx"],
        r["p50_us"] / 1e3, r["p99_us"] / 1e3) for c, r in pw_rows]
    # c = 256: the supervisor's workers, enough for the budget's line,
    # clients retrying at once (section 7).
    o = next(r for c, r in ov_rows if c == 256 and r["label"].endswith(
        "workers") and r["clients"] == "retry at once")
    oh = next(r for c, r in ov_rows if c == 256 and r["label"].endswith(
        "workers") and r["clients"] == "honour Retry-After")
    on = next(r for c, r in ov_rows if r["label"].startswith("null"))
    pw.append(row(256, o, o["ok_rps"], bound, bound_conc, o["shed"],
        o["served_p50"], o["served_p99"]))
    es, rot = rf_rows["ES256"], rf_rows["ES256 rotating"]
    return {
        "bound_rps": bound,
        "bound_concurrent_rps": bound_conc,
        "password": pw,
        "cpu_outside_crypto_ms": outside.get("sampled_ms",
            outside["subtracted_ms"]),
        "cpu_outside_crypto": outside,
        "refresh": {"null_ceiling_rps": nul_rps, "es256_rps": es["rps"],
            "es256_ratio": es["rps"] / row_ceiling(es),
            "es256_ceiling_rps": row_ceiling(es), "rotating_rps": rot["rps"],
            "rotating_ratio": rot["rps"] / row_ceiling(rot),
            "rotating_ceiling_rps": row_ceiling(rot),
            "es256_p99_ms": rf_rows["ES256"]["p99_us"] / 1e3,
            "rotating_p99_ms": rf_rows["ES256 rotating"]["p99_us"] / 1e3},
        "cgi_overhead_ms": cgi_ms,
        "pss_mib": max(r[4] - r[6] for r in rss) / 1024 if rss else 0.0,
        "overload": {"c256_refusal_p99_ms": o["shed_p99"],
            "c256_served_p99_ms": o["served_p99"], "budget_ms": BUDGET_MS,
            "hash_ms": hash_ms,
            "c256_honour_refusal_p99_ms": oh["shed_p99"],
            "c256_refusal_p99_after_first_s_ms": o["shed_p99_after"],
            "c256_honour_refusal_p99_after_first_s_ms": oh["shed_p99_after"],
            "c256_honour_served_p99_ms": oh["served_p99"],
            "c256_null_p99_ms": on["served_p99"]},
    }


def main():
    if os.environ.get("BENCH_ONLY") == "mfa-otp":
        return mfa_only()
    if os.environ.get("BENCH_ONLY") == "cgi":
        return cgi_only()
    if os.environ.get("BENCH_ONLY") == "pg":
        import pg_bench
        return pg_bench.main()
    only = set(os.environ.get("BENCH_ONLY", "").split(",")) - {""}
    if only and only <= {"password", "overload"}:
        return password_only(only)
    if only:
        raise SystemExit("bench: BENCH_ONLY: mfa-otp, cgi, pg, or password and/or"
            " overload")
    for exe in (FCGI, CTL, CRYPTOBOUND, NULLFCGI):
        if not os.access(exe, os.X_OK):
            raise SystemExit("bench: %s not built" % exe)
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    out = []
    servers = []
    try:
        homes = {}
        for alg in ("RS256", "ES256", "cheap"):
            home = Path(tmp) / ("home-" + alg)
            tf = Path(tmp) / ("tenant-%s.json" % alg)
            t = tenant("http://127.0.0.1/", "RS256" if alg == "cheap" else alg)
            if alg == "cheap":
                # The smallest argon2id (t=1, m=8 KiB): the same request
                # with next to no hash work, to see the CPU around it.
                t["tenant"]["hash"] = {"t": 1, "m": 8, "p": 1}
            tf.write_text(json.dumps(t))
            ctl(home, "import", str(tf))
            homes[alg] = home

        # 1. The crypto bound: one verify + the two signatures (access
        # token and ID token, scope openid) of a password response.
        cb = cryptobound(homes["RS256"], 2)
        bound = float(cb["bound_rps"])
        crypto_ms = float(cb["crypto_ms"])

        # 2, 3. Password grant (RS256 tenant).
        srv = Lighttpd(tmp, homes["RS256"], FCGI)
        servers.append(srv)
        pw_rows, cb_after = password_rows(tmp, srv, homes["RS256"], cb)
        pw_body = PW_BODY

        # 8a. The password grant with a DPoP proof, c = 2, against the
        # c = 2 row above.
        srv.access()
        cpu0 = srv.cpu()
        dp_pw = dpop_run(tmp, srv.base, [pw_body], pw_rows[1][1]["ok_rps"], 2)
        dp_pw["cpu_ms"] = (srv.cpu() - cpu0) * 1e3 / max(1,
            dp_pw["requests"] - dp_pw["non2xx"])

        # 7. Overload: lighttpd's processes with clients that retry at
        # once (wrk), then a LATCHKEY_CHILDREN supervisor (every request
        # reaches a worker that admits or sheds it; none waits in
        # lighttpd) with such clients and with clients that honour
        # Retry-After.
        rss = srv.rss_kib()
        ov_rows = overload_rows(tmp, srv, homes["RS256"], servers)

        # 3b. CPU outside the crypto, measured directly: the same password
        # grant against the tenant with the smallest hash policy.  The
        # crypto (two RS256 signatures, mostly) is timed before and after
        # each row, and the row takes the mean: a signature's time moves
        # by a tenth between moments of a run, as much as the figure.
        cb_cheap = cryptobound(homes["cheap"], 2, n=CHEAP_N)
        chp = Lighttpd(tmp, homes["cheap"], FCGI)
        servers.append(chp)
        post(chp.base, "/oauth/token", dict(urllib.parse.parse_qsl(pw_body)))
        cheap_rows = []
        cb_row = cb_cheap
        for c in (2, 8):
            cpu0 = chp.cpu()
            rec = rowprofile.Record(tmp, chp.responders(), "cheap-%d" % c) \
                if rowprofile.available() else None
            r = wrk(tmp, chp.base + "/oauth/token", [pw_body], c)
            r["cpu_ms"] = (chp.cpu() - cpu0) * 1e3 / max(1, r["requests"] - r["non2xx"])
            r["parts"] = rec.stop() if rec else {}
            cb_next = cryptobound(homes["cheap"], 2, n=CHEAP_N)
            r["crypto_ms"] = (float(cb_row["crypto_ms"]) +
                float(cb_next["crypto_ms"])) / 2
            cb_row = cb_next
            cheap_rows.append((c, r))
        chp.stop()
        servers.remove(chp)

        # 4. Refresh grant: non-rotating tokens (a rotating token could be
        # used only once); one per connection's worth, round-robin.  The
        # null responder's ceiling is measured just before and after each
        # ES256 row, which is set against their mean: the VM's ceiling
        # moved from 13,900 to 17,800 req/s between runs, and within one.
        nul = Lighttpd(tmp, homes["ES256"], NULLFCGI)
        servers.append(nul)
        rf_rows = {}
        for alg in ("ES256", "RS256"):
            s2 = srv if alg == "RS256" else Lighttpd(tmp, homes[alg], FCGI)
            if s2 is not srv:
                servers.append(s2)
            toks = refresh_tokens(s2.base, STATIC, STATIC_SECRET)
            bodies = [urllib.parse.urlencode({"grant_type": "refresh_token",
                "client_id": STATIC, "client_secret": STATIC_SECRET,
                "refresh_token": t}) for t in toks]
            st, body = post(s2.base, "/oauth/token", dict(urllib.parse.parse_qsl(bodies[0])))
            assert st == 200 and "access_token" in body, (st, body)
            ceil0 = null_ceiling(tmp, nul) if alg == "ES256" else 0
            cpu0 = s2.cpu()
            r = wrk(tmp, s2.base + "/oauth/token", bodies, 32)
            r["cpu_ms"] = (s2.cpu() - cpu0) * 1e3 / max(1, r["requests"])
            if alg == "ES256":
                r["ceilings"] = (ceil0, null_ceiling(tmp, nul))
            rf_rows[alg] = r
            if alg == "ES256":
                # 8b. The same with a DPoP proof each (a confidential
                # client's refresh token is not bound: any key will do).
                cpu0 = s2.cpu()
                d = dpop_run(tmp, s2.base, bodies, r["rps"], 32)
                d["cpu_ms"] = (s2.cpu() - cpu0) * 1e3 / max(1, d["requests"])
                rf_rows["ES256 DPoP"] = d
                # Rotating: each token is used once; every 200's new
                # token goes back into the pool (BENCH_MODE=rotate).
                toks = refresh_tokens(s2.base, CLIENT, SECRET)
                prefix = urllib.parse.urlencode({"grant_type": "refresh_token",
                    "client_id": CLIENT, "client_secret": SECRET}) + "&refresh_token="
                ceil0 = null_ceiling(tmp, nul)
                cpu0 = s2.cpu()
                r = wrk(tmp, s2.base + "/oauth/token", toks, 32, mode="rotate",
                    prefix=prefix)
                r["cpu_ms"] = (s2.cpu() - cpu0) * 1e3 / max(1, r["requests"])
                r["ceilings"] = (ceil0, null_ceiling(tmp, nul))
                rf_rows["ES256 rotating"] = r
            if s2 is not srv:
                rss += s2.rss_kib()
        srv.stop()
        servers.remove(srv)
        for s2 in list(servers):	# the null responder's too
            s2.stop()
            servers.remove(s2)

        # 5. Plain CGI against FastCGI, one request at a time.
        fc, ci = cgi_section(tmp, homes["ES256"], servers)

        # 9. The password grant at an AD/LDAP connection (ldap_bench.py).
        import ldap_bench
        ldap_rows = ldap_bench.run(tmp)

        # The table.
        P = out.append
        P("latchkey bench: %s, %d cores, %d s per run, lighttpd max-procs %d, wrk"
            % (time.strftime("%Y-%m-%d %H:%M"), CORES, SECONDS, PROCS))
        P("")
        out.extend(bound_lines(cb, crypto_ms, bound))
        out.extend(password_lines(pw_rows, cb_after))
        # The row's crypto per response: cores / its bound (the harmonic
        # mean over the cores of verify + signatures).
        outside = [r["cpu_ms"] - int(cb["cores"]) * 1e3 / r["bound"]
            for c, r in pw_rows]
        P("3. responder CPU per request outside crypto: %s ms (c=1,2,8,32;"
            " target <= 0.15)" % ", ".join("%.3f" % x for x in outside))
        P("   (total responder CPU / ok requests - the crypto of the row's bound:"
            " the hash's run-to-run spread, about +-1 ms, swamps it)")
        P("   measured directly, smallest hash policy (%s: verify %.3f ms +"
            " 2 RS256 signatures = %.3f ms crypto before the rows; each row"
            " against the mean of the crypto timed before and after it):"
            % (cb_cheap["policy"], float(cb_cheap["verify_ms"]),
            float(cb_cheap["crypto_ms"])))
        for c, r in cheap_rows:
            P("   c=%d: %.1f req/s, responder CPU %.3f ms/request, crypto %.3f,"
                " outside crypto %.3f ms" % (c, r["ok_rps"], r["cpu_ms"],
                r["crypto_ms"], r["cpu_ms"] - r["crypto_ms"]))
        P("   the same rows by perf's samples of the responders during each"
            " (tests/bench/rowprofile.py: crypto = the signatures and the verify;"
            " target <= 0.15 outside it):" if rowprofile.available() else
            "   (perf not installed: no samples of the rows; sh tests/deps.sh"
            " --install)")
        for c, r in cheap_rows if rowprofile.available() else ():
            P("   c=%d: %s" % (c, rowprofile.line(r["cpu_ms"], r["parts"])))
        P("")
        P("4. refresh grant (non-rotating, 64 tokens round-robin, c=32)")
        ceilings = rf_rows["ES256"]["ceilings"] + rf_rows["ES256 rotating"]["ceilings"]
        nul_rps = sum(ceilings) / len(ceilings)
        P("   null FastCGI responder ceiling  %9.1f req/s (mean of %s, measured"
            " before and after each ES256 row)" % (nul_rps,
            " ".join("%.0f" % c for c in ceilings)))
        for alg in ("ES256", "RS256", "ES256 rotating"):
            r = rf_rows[alg]
            P("   refresh %-23s %9.1f req/s  p50 %.2f ms  p99 %.2f ms"
                "  %s  non-2xx %d  responder cpu/req %.3f ms" % (alg,
                r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3,
                "%.2f of ceiling %.0f" % (r["rps"] / row_ceiling(r),
                row_ceiling(r)) if "ceilings" in r else "",
                r["non2xx"], r["cpu_ms"]))
        P("   (non-rotating: the idle-expiry restart is written when it moves"
            " >= 1 % of the idle lifetime, at most 60 s; rotating: one durable"
            " commit per refresh)")
        P("   target: ES256 >= 10000 req/s")
        P("")
        P("5. plain CGI (GET openid-configuration, c=1): FastCGI %.3f ms,"
            " CGI %.3f ms: CGI overhead %.3f ms/request" % (fc["p50_us"] / 1e3,
            ci["p50_us"] / 1e3, (ci["p50_us"] - fc["p50_us"]) / 1e3))
        P("")
        def most(i):
            return max(r[i] for r in rss) if rss else 0
        P("6. responder RSS over %d processes after the runs: VmRSS max %.1f MiB"
            " (VmHWM %.1f): argon2's hash memory (the slots' shared memory,"
            " slots x m KiB for all the responders) mapped %.1f MiB, private"
            " %.1f MiB, shared memory %.1f MiB, BDB region files and libraries"
            " the rest" % (len(rss), most(0) / 1024, most(1) / 1024, most(5) / 1024,
            most(2) / 1024, most(3) / 1024))
        P("   hash memory aside: VmRSS %.1f MiB, PSS %.1f MiB (target <= 8 MiB;"
            " PSS divides each shared page among the processes mapping it)"
            % (max(r[0] - r[5] for r in rss) / 1024 if rss else 0,
               max(r[4] - r[6] for r in rss) / 1024 if rss else 0))
        P("")
        out.extend(overload_lines(ov_rows, cb))
        P("")
        P("8. DPoP (ES256 proofs made before each run, each sent once)")
        c2 = pw_rows[1][1]
        P("   password c=2   plain %9.1f req/s p50 %.1f ms cpu/req %.2f ms"
            " | DPoP %9.1f req/s p50 %.1f ms cpu/req %.2f ms non-2xx %d"
            % (c2["ok_rps"], c2["p50_us"] / 1e3, c2["cpu_ms"], dp_pw["ok_rps"],
               dp_pw["p50_us"] / 1e3, dp_pw["cpu_ms"], dp_pw["non2xx"]))
        a, d = rf_rows["ES256"], rf_rows["ES256 DPoP"]
        P("   refresh c=32   plain %9.1f req/s p50 %.2f ms cpu/req %.3f ms"
            " | DPoP %9.1f req/s p50 %.2f ms cpu/req %.3f ms non-2xx %d"
            % (a["rps"], a["p50_us"] / 1e3, a["cpu_ms"], d["rps"],
               d["p50_us"] / 1e3, d["cpu_ms"], d["non2xx"]))
        P("   (%d and %d proofs made; a run that used them all would show"
            " non-2xx replays)" % (dp_pw["proofs"], d["proofs"]))
        P("")
        out.extend(ldap_bench.table(ldap_rows))
        P("")
        out.extend(mfa_lines(tmp))
        # 11. The store backends (pg_bench.py).
        import pg_bench
        P("")
        out.extend(pg_bench.table(pg_bench.run(tmp)))
        figures = bench_figures(cb, pw_rows, ov_rows, outside_figures(
            cheap_rows[0][1]), nul_rps, rf_rows, (ci["p50_us"] - fc["p50_us"]) / 1e3,
            rss, float(cb["verify_ms"]))
        (B / "bench.json").write_text(json.dumps(figures, indent=1) + "\n")
        P("")
        P("figures: %s" % (B / "bench.json"))
    finally:
        cleanup(servers, tmp)
    print("\n".join(out))


if __name__ == "__main__":
    main()
