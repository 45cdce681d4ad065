"""
A throw-away PostgreSQL cluster for the tests of the PostgreSQL store
(docs/postgresql.md): initdb in a temporary directory, listening on
127.0.0.1 only on a free port and on a unix socket in that directory,
fsync on.  Run as root, the server runs as the Debian package's
`postgres` user (or `latchkey-pg`, created here when that is missing):
PostgreSQL refuses to run as root.

    c = PgCluster(); c.start()
    c.createdb("t1")            # CREATE DATABASE
    c.conninfo("t1")            # a libpq connection string
    c.psql("SELECT 1", db="t1") # as the superuser, the output
    c.kill(); c.start()         # SIGKILL the postmaster, start again
    c.stop(); c.cleanup()

A primary with a synchronous standby (the failover test,
tests/fault/fault_pg.py):

    p = PgCluster(); p.replicate(); p.start()
    s = p.standby()             # pg_basebackup -R, started, in sync
    multihost([p, s], "t1")     # both, target_session_attrs=read-write
    p.kill(); s.promote()       # the primary lost, the standby takes over

The tests of the store (tests/e2e with LATCHKEY_TEST_BACKEND=pg) and the
fault tests import it; nothing here is used in production.
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SUPERUSER = "postgres"


def bindir():
    """The newest installed server's binaries (Debian's layout)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        raise RuntimeError("no PostgreSQL server installed "
            "(apt-get install postgresql)")
    return dirs[-1]


def available():
    try:
        bindir()
        return True
    except RuntimeError:
        return False


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user():
    """The user the server runs as: None (this one) unless root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "latchkey-pg"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
        "/usr/sbin/nologin", "latchkey-pg"], check=True)
    return pwd.getpwnam("latchkey-pg")


class PgCluster:
    def __init__(self, base=None, port=None):
        self.bin = bindir()
        self.tmp = base or tempfile.mkdtemp(prefix="latchkey-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.sock = os.path.join(self.tmp, "sock")
        self.logfile = os.path.join(self.tmp, "server.log")
        self.port = port or free_port()
        self.user = _server_user()
        self.proc = None
        os.makedirs(self.sock, exist_ok=True)
        os.chmod(self.tmp, 0o755)
        os.chmod(self.sock, 0o755)
        if self.user is not None:
            for d in (self.tmp, self.sock):
                os.chown(d, self.user.pw_uid, self.user.pw_gid)
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._initdb()

    def _as_server(self):
        u = self.user
        if u is None:
            return None

        def demote():
            os.setgid(u.pw_gid)
            os.setgroups([])
            os.setuid(u.pw_uid)
        return demote

    def _run(self, args, **kw):
        return subprocess.run(args, preexec_fn=self._as_server(),
            cwd=self.tmp, **kw)

    def _initdb(self):
        # trust: the cluster listens on 127.0.0.1 and a private socket,
        # for the duration of a test run.
        p = self._run([os.path.join(self.bin, "initdb"), "-D", self.data,
            "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C", "--no-sync"], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("initdb: " + p.stdout + p.stderr)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# tests/pg/pgcluster.py\n"
                "listen_addresses = '127.0.0.1'\n"
                "port = %d\n"
                "unix_socket_directories = '%s'\n"
                "fsync = on\n"
                "max_connections = 300\n"
                "shared_buffers = 32MB\n"
                "max_pred_locks_per_transaction = 256\n"
                % (self.port, self.sock))

    def extra_conf(self, text):
        """Append settings to postgresql.conf (before start)."""
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(text + "\n")

    def hba(self, text):
        """Prepend lines to pg_hba.conf (before start)."""
        path = os.path.join(self.data, "pg_hba.conf")
        with open(path) as f:
            old = f.read()
        with open(path, "w") as f:
            f.write(text + "\n" + old)

    def start(self, timeout=30):
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([os.path.join(self.bin, "postgres"),
            "-D", self.data], preexec_fn=self._as_server(), cwd=self.tmp,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited:\n" + self.log()[-3000:])
            p = subprocess.run([os.path.join(self.bin, "pg_isready"), "-h",
                "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER],
                capture_output=True)
            if p.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("postgres not ready:\n" + self.log()[-3000:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, mode=signal.SIGINT, timeout=30):
        """SIGINT: a fast shutdown; SIGTERM: a smart one."""
        if not self.running():
            return
        self.proc.send_signal(mode)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """SIGKILL the postmaster and its backends (a crash)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        # The backends notice the postmaster is gone; wait for them so
        # that a restart finds the shared memory free.
        deadline = time.time() + 10
        pidfile = os.path.join(self.data, "postmaster.pid")
        while time.time() < deadline and self._backends():
            time.sleep(0.05)
        if os.path.exists(pidfile):
            os.unlink(pidfile)

    # --- replication --------------------------------------------------

    def replicate(self, standby="standby", sync_commit="remote_apply"):
        """Before the first start: stream the WAL to a synchronous
        standby whose application_name is standby.  remote_apply: a
        commit returns once the standby has applied it, so whatever was
        acknowledged is there after a promotion (docs/
        deployment-postgresql.md, Durability)."""
        self.extra_conf("wal_level = replica\nmax_wal_senders = 4\n"
            "wal_keep_size = 64MB\nhot_standby = on\n"
            "synchronous_standby_names = '%s'\nsynchronous_commit = %s"
            % (standby, sync_commit))
        self.hba("host replication all 127.0.0.1/32 trust")

    def standby(self, name="standby", timeout=30):
        """A hot standby of this running cluster (pg_basebackup -R: it
        follows this one), started, and streaming synchronously."""
        base = tempfile.mkdtemp(prefix="latchkey-pg-%s-" % name)
        os.chmod(base, 0o755)
        if self.user is not None:
            os.chown(base, self.user.pw_uid, self.user.pw_gid)
        data = os.path.join(base, "data")
        p = self._run([os.path.join(self.bin, "pg_basebackup"), "-h",
            "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-D", data,
            "-R", "-X", "stream", "-d", "application_name=%s" % name],
            capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("pg_basebackup: " + p.stdout + p.stderr)
        port = free_port()
        # Its own port and socket; and once promoted it is alone: with
        # the primary's synchronous_standby_names every commit there
        # would wait for good.
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write("port = %d\nunix_socket_directories = '%s'\n"
                "synchronous_standby_names = ''\n"
                % (port, os.path.join(base, "sock")))
        s = PgCluster(base=base, port=port).start()
        deadline = time.time() + timeout
        while self.psql("SELECT sync_state FROM pg_stat_replication WHERE "
                "application_name = '%s'" % name).strip() != "sync":
            if time.time() > deadline:
                raise RuntimeError("the standby did not get in sync")
            time.sleep(0.1)
        return s

    def promote(self, timeout=60):
        """pg_ctl promote: a standby leaves recovery and takes writes."""
        p = self._run([os.path.join(self.bin, "pg_ctl"), "promote", "-w",
            "-t", str(timeout), "-D", self.data], capture_output=True,
            text=True)
        if p.returncode != 0:
            raise RuntimeError("pg_ctl promote: " + p.stdout + p.stderr)

    def in_recovery(self):
        return self.psql("SELECT pg_is_in_recovery()").strip() == "t"

    def _backends(self):
        out = subprocess.run(["pgrep", "-f", "postgres: .*%d" % self.port],
            capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]

    def conninfo(self, db="postgres", user=SUPERUSER, **extra):
        parts = ["host=127.0.0.1", "port=%d" % self.port, "dbname=%s" % db,
            "user=%s" % user]
        parts += ["%s=%s" % kv for kv in extra.items()]
        return " ".join(parts)

    def psql(self, sql, db="postgres", user=SUPERUSER, check=True):
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q",
            "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
            str(self.port), "-U", user, "-d", db, "-c", sql],
            capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, p.stderr))
        return p if not check else p.stdout

    def createdb(self, name, template=None, owner=None):
        sql = 'CREATE DATABASE "%s"' % name
        if template:
            sql += ' TEMPLATE "%s"' % template
        if owner:
            sql += ' OWNER "%s"' % owner
        self.psql(sql)
        return name

    def createrole(self, name, login=True, member_of=None):
        self.psql('CREATE ROLE "%s" %s' % (name,
            "LOGIN" if login else "NOLOGIN"))
        if member_of:
            self.psql('GRANT "%s" TO "%s"' % (member_of, name))
        return name

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        if not os.environ.get("LATCHKEY_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


def multihost(clusters, db="postgres", user=SUPERUSER, **extra):
    """One libpq connection string naming every cluster in order, with
    target_session_attrs=read-write: libpq keeps the first that takes
    writes, so after a failover it finds the promoted standby."""
    kv = dict(host=",".join("127.0.0.1" for _ in clusters),
        port=",".join(str(c.port) for c in clusters), dbname=db, user=user,
        target_session_attrs="read-write", connect_timeout="2")
    kv.update(extra)
    return " ".join("%s=%s" % x for x in kv.items())
