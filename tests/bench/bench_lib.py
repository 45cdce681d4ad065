#!/usr/bin/python3
"""
bench_lib.py: what make bench's sections share (tests/bench/bench.py,
bench_mfa.py, ldap_bench.py, pg_bench.py): the settings from the
environment, the bench tenant, lighttpd from httpd-conf/lighttpd.conf
with the responders it starts, wrk with its Lua script, the crypto bound
(tests/bench/cryptobound) and DPoP proofs.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
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


def cpu_times():
    """(busy, idle) seconds of all the cores together, from /proc/stat
    (idle: idle + iowait; steal counts as neither)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    busy = sum(v[:8]) - idle - v[7]
    return busy / CLK, idle / CLK


def cleanup(servers, tmp):
    """Stop the servers a run started and remove its directory (kept
    when LATCHKEY_KEEP_TMP is set)."""
    for s in servers:
        s.stop()
    if not os.environ.get("LATCHKEY_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)
