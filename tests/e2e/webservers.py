"""
The real web servers of httpd-conf/, each started with its shipped
configuration file on a free 127.0.0.1 port in front of a tenant loaded
with `latchkeyctl import`, serving latchkey at the site root or under a
prefix.  test_servers.py runs the same smoke set through each.

Each class is lk.Server (tenant, requests, PyJWT checks) with another
start and stop:

  lighttpd            lighttpd.conf (mod_fastcgi spawns the responder)
  apache-fcgid        apache2 -f apache-fcgid.conf (mod_fcgid spawns it)
  apache-proxy-fcgi   apache2 -f apache-proxy-fcgi.conf, responder under
                      spawn-fcgi
  nginx               nginx.conf with its placeholders filled by the sed
                      its header documents, responder under spawn-fcgi
  nginx-socket        the same nginx.conf, responder socket-activated the
                      way latchkey.socket/latchkey.service do it (the
                      listening socket on its standard input)
  apache-cgi          apache2 -f apache-cgi-host.conf (mod_cgi), with
                      htaccess-cgi installed as .htaccess and the
                      responder as latchkey.cgi beside it

When started as root (CI, containers) Apache and nginx run their
children as www-data, as Debian does, and lighttpd's responders drop to
www-data themselves (LATCHKEY_USER): the responder binary is copied
into the (0755) temporary directory and the home is chowned to www-data.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import requests

import lk

CONFDIR = lk.ROOT / "httpd-conf"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SPAWN_FCGI = shutil.which("spawn-fcgi") or "/usr/bin/spawn-fcgi"
RUN_USER = "www-data"

# The variables the responder's environment may carry from ours.
PASS_ENV = ("PATH", "TZ", "LANG", "ASAN_OPTIONS", "UBSAN_OPTIONS",
    "LSAN_OPTIONS")


def nginx_fill(conf, port, rundir, prefix):
    """nginx.conf filled in by the sed its header documents."""
    p = subprocess.run(["sed", "-e", "s|@LATCHKEY_PORT@|%d|g" % port,
        "-e", "s|@LATCHKEY_RUNDIR@|%s|g" % rundir,
        "-e", "s|@LATCHKEY_PREFIX@|%s|g" % prefix, str(conf)],
        capture_output=True, text=True, check=True)
    return p.stdout


def htaccess_install(dst, home):
    """htaccess-cgi copied to dst and filled in by the sed -i its header
    documents."""
    shutil.copyfile(CONFDIR / "htaccess-cgi", dst)
    subprocess.run(["sed", "-i", "s|@LATCHKEY_HOME@|%s|" % home, str(dst)],
        check=True)
    assert "@LATCHKEY_" not in dst.read_text()


class WebServer(lk.Server):
    """lk.Server at base http://127.0.0.1:PORT<prefix>/ (the issuer)."""

    kind = None

    def __init__(self, prefix=""):
        super().__init__(self.kind + prefix.replace("/", "-"))
        self.prefix = prefix
        self.base = "http://127.0.0.1:%d%s/" % (self.port, prefix)
        self.issuer = self.base
        self.tenant = lk.tenant_doc(self.issuer, self.client_key)
        self.tenant_file.write_text(json.dumps(self.tenant))
        self.procs = []
        self.root = os.geteuid() == 0
        # Children running as www-data must reach the run directory and
        # the binary; the home itself stays 0700.
        os.chmod(self.tmp, 0o755)
        os.chmod(self.run, 0o755)
        self.fcgi = self.tmp / "bin" / "latchkey.fcgi"
        self.fcgi.parent.mkdir()
        shutil.copy2(lk.FCGI, self.fcgi)

    def env(self):
        e = {k: v for k, v in os.environ.items() if k in PASS_ENV}
        e.update(LATCHKEY_PORT=str(self.port), LATCHKEY_FCGI=str(self.fcgi),
            LATCHKEY_HOME=str(self.home), LATCHKEY_RUNDIR=str(self.run),
            LATCHKEY_PREFIX=self.prefix, APACHE_RUN_USER=RUN_USER,
            APACHE_RUN_GROUP=RUN_USER)
        e.update(lk.store_env(self.home))
        return e

    def give_home(self):
        """The home to the user the responder runs as (when root)."""
        if not self.root:
            return
        pw = pwd.getpwnam(RUN_USER)
        for d, _, files in os.walk(self.home):
            os.chown(d, pw.pw_uid, pw.pw_gid)
            for f in files:
                os.chown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)

    def spawn(self, argv, **kw):
        log = open(self.errlog, "ab")
        p = subprocess.Popen(argv, stdin=kw.pop("stdin", subprocess.DEVNULL),
            stdout=log, stderr=log, env=kw.pop("env", self.env()),
            start_new_session=True, **kw)
        log.close()
        self.procs.append(p)
        return p

    def check(self, argv):
        t = subprocess.run(argv, env=self.env(), capture_output=True,
            text=True, timeout=30)
        assert t.returncode == 0, "%s: %s%s" % (argv[0], t.stdout, t.stderr)

    def wait_ready(self, path=".well-known/jwks.json"):
        deadline = time.time() + 30
        last = "no answer"
        while True:
            for p in self.procs:
                if p.poll() is not None:
                    raise AssertionError("%s exited (%d):\n%s" % (p.args[0],
                        p.returncode, self.log()[-4000:]))
            try:
                r = requests.get(self.url(path), timeout=5)
                if r.status_code == 200:
                    return self
                last = "HTTP %d %s" % (r.status_code, r.text[:200])
            except requests.RequestException as e:
                last = "%s: %s" % (type(e).__name__, e)
            if time.time() > deadline:
                raise AssertionError("%s not ready in 30 s (last: %s); log:\n%s"
                    % (self.kind, last, self.log()[-4000:]))
            time.sleep(0.05)

    def start(self):
        lk.ctl(self.home, "import", str(self.tenant_file))
        self.give_home()
        self.launch()
        return self.wait_ready()

    def stop(self):
        # Last started first: the web server, then the responder.
        for p in reversed(self.procs):
            if p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        self.procs = []

    def spawn_fcgi(self):
        """The responder under spawn-fcgi, one process in the foreground
        (-n), as www-data when root, the socket for the web server only."""
        sock = self.run / "latchkey.sock"
        argv = [SPAWN_FCGI, "-n", "-s", str(sock), "-M", "0600"]
        if self.root:
            argv += ["-u", RUN_USER, "-g", RUN_USER, "-U", RUN_USER,
                "-G", RUN_USER]
        self.spawn(argv + ["--", str(self.fcgi)])
        deadline = time.time() + 10
        while not sock.exists():
            assert time.time() < deadline, "no socket:\n" + self.log()
            time.sleep(0.02)


class Lighttpd(WebServer):
    kind = "lighttpd"

    def env(self):
        e = WebServer.env(self)
        # lighttpd.conf sets no server.username: started as root, its
        # responders drop to LATCHKEY_USER, the owner of the home.
        if self.root:
            e.update(LATCHKEY_USER=RUN_USER, LATCHKEY_GROUP=RUN_USER)
        return e

    def start(self):
        # lighttpd.conf maps "/" to the responder: a prefix needs no change.
        lk.ctl(self.home, "import", str(self.tenant_file))
        self.give_home()
        return self.serve()

    def stop(self):
        lk.Server.stop(self)


class ApacheFcgid(WebServer):
    kind = "apache-fcgid"
    conf = CONFDIR / "apache-fcgid.conf"

    def launch(self):
        if self.root:
            os.chown(self.run, pwd.getpwnam(RUN_USER).pw_uid, -1)
        pg = ["-DLATCHKEY_PG"] if lk.PG else []
        self.check([APACHE, "-t", "-f", str(self.conf)] + pg)
        self.spawn([APACHE, "-f", str(self.conf), "-DFOREGROUND"] + pg)


class ApacheProxyFcgi(WebServer):
    kind = "apache-proxy-fcgi"
    conf = CONFDIR / "apache-proxy-fcgi.conf"

    def launch(self):
        self.spawn_fcgi()
        self.check([APACHE, "-t", "-f", str(self.conf)])
        self.spawn([APACHE, "-f", str(self.conf), "-DFOREGROUND"])


class Nginx(WebServer):
    kind = "nginx"

    def nginx(self):
        conf = self.run / "nginx.conf"
        conf.write_text(nginx_fill(CONFDIR / "nginx.conf", self.port,
            self.run, self.prefix))
        assert "@LATCHKEY_" not in conf.read_text()
        argv = [NGINX, "-c", str(conf), "-p", str(self.run) + "/"]
        self.check(argv + ["-t", "-q"])
        self.spawn(argv + ["-g", "daemon off;"])

    def launch(self):
        self.spawn_fcgi()
        self.nginx()


class NginxSocket(Nginx):
    """latchkey.socket + latchkey.service without systemd: the listening
    socket (mode 0600, the web server's user) as the responder's standard
    input, its environment from the unit's Environment= lines."""
    kind = "nginx-socket"

    def unit_env(self):
        env = {k: v for k, v in os.environ.items() if k in PASS_ENV}
        for line in (CONFDIR / "latchkey.service").read_text().splitlines():
            if line.startswith("Environment="):
                k, _, v = line[len("Environment="):].partition("=")
                env[k] = v
        # The unit's path, /var/lib/latchkey, is this test's home.
        assert env.get("LATCHKEY_HOME") == "/var/lib/latchkey", env
        env["LATCHKEY_HOME"] = str(self.home)
        env.update(lk.store_env(self.home))
        return env

    def launch(self):
        sock = self.run / "latchkey.sock"
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(str(sock))
        ls.listen(64)
        os.chmod(sock, 0o600)
        user = {}
        if self.root:
            pw = pwd.getpwnam(RUN_USER)
            os.chown(sock, pw.pw_uid, pw.pw_gid)
            user = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        self.spawn([str(self.fcgi)], stdin=ls.fileno(), env=self.unit_env(),
            **user)
        ls.close()
        self.nginx()


class ApacheCgi(WebServer):
    kind = "apache-cgi"
    conf = CONFDIR / "apache-cgi-host.conf"

    def env(self):
        e = super().env()
        e["LATCHKEY_DOCROOT"] = str(self.tmp / "htdocs")
        return e

    def launch(self):
        docroot = self.tmp / "htdocs"
        d = docroot / self.prefix.lstrip("/")
        d.mkdir(parents=True)
        htaccess_install(d / ".htaccess", self.home)
        shutil.copy2(self.fcgi, d / "latchkey.cgi")
        os.chmod(d / "latchkey.cgi", 0o755)
        self.check([APACHE, "-t", "-f", str(self.conf)])
        self.spawn([APACHE, "-f", str(self.conf), "-DFOREGROUND"])


KINDS = {c.kind: c for c in (Lighttpd, ApacheFcgid, ApacheProxyFcgi, Nginx,
    NginxSocket, ApacheCgi)}
