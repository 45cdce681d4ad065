"""
Least privilege after start-up (lib/run/priv.c, docs/security.md): a
responder started as root becomes LATCHKEY_USER / LATCHKEY_GROUP for good
before it opens anything, and sets PR_SET_NO_NEW_PRIVS; started as root
without a run user, naming one that does not exist, or with a home that
is not the run user's, it refuses to serve (exit status 78, a clear
line).  The responders are read from /proc/PID/status.  The tests that
start a responder as root are skipped when the suite does not run as
root.
"""
import os
import pwd
import grp
import socket
import subprocess

import pytest

import lk

root_only = pytest.mark.skipif(os.geteuid() != 0,
    reason="starting a responder as root needs root")

RUN_USER, RUN_GROUP = "nobody", "nogroup"


def status(pid):
    """/proc/PID/status as a dict of its lines."""
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def run_direct(env, stdin=subprocess.DEVNULL):
    """The responder run by hand (CGI mode on /dev/null, or FastCGI mode
    on a listening socket): it must refuse before serving."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    e.update(env)
    return subprocess.run([str(lk.FCGI)], env=e, stdin=stdin,
        capture_output=True, text=True, timeout=30)


@pytest.fixture
def home(tmp_path):
    """A home of the test tenant, owned by root."""
    s = lk.Server("priv-home")
    lk.ctl(s.home, "import", str(s.tenant_file))
    yield s.home
    s.cleanup()


@root_only
@pytest.mark.parametrize("children", [None, "2"])
def test_root_with_a_user_serves_as_that_user(monkeypatch, children):
    uid = pwd.getpwnam(RUN_USER).pw_uid
    gid = grp.getgrnam(RUN_GROUP).gr_gid
    s = lk.Server("priv")
    try:
        lk.ctl(s.home, "import", str(s.tenant_file))
        os.chmod(s.tmp, 0o755)	# the run user reaches its home
        subprocess.run(["chown", "-R", "%s:%s" % (RUN_USER, RUN_GROUP),
            str(s.home)], check=True)
        monkeypatch.setenv("LATCHKEY_USER", RUN_USER)
        monkeypatch.setenv("LATCHKEY_GROUP", RUN_GROUP)
        if children:
            monkeypatch.setenv("LATCHKEY_CHILDREN", children)
        else:
            monkeypatch.delenv("LATCHKEY_CHILDREN", raising=False)
        s.serve()
        r = s.token(lk.password_form(scope="openid"))
        assert r.status_code == 200, r.text + s.log()[-2000:]
        procs = descendants(s.proc.pid)
        assert len(procs) >= (3 if children else 1), procs
        for pid in procs:
            st = status(pid)
            assert st["Uid"].split() == [str(uid)] * 4, (pid, st["Uid"])
            assert st["Gid"].split() == [str(gid)] * 4, (pid, st["Gid"])
            assert st["Groups"].split() == [str(gid)], (pid, st["Groups"])
            assert st["NoNewPrivs"] == "1", pid
            assert st["CapEff"] == "0000000000000000", pid
        # What the store created while serving belongs to the run user.
        for dirpath, _, files in os.walk(s.home):
            for f in files:
                assert os.stat(os.path.join(dirpath, f)).st_uid == uid, f
    finally:
        s.stop()
        s.cleanup()


@root_only
def test_root_without_a_user_refuses(home):
    p = run_direct({"LATCHKEY_HOME": str(home)})
    assert p.returncode == 78, p.stderr
    assert "started as root without LATCHKEY_USER: refusing to serve" in p.stderr
    # The same in FastCGI mode, on a listening socket.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ls:
        ls.bind(str(home.parent / "fcgi.sock"))
        ls.listen(1)
        p = run_direct({"LATCHKEY_HOME": str(home)}, stdin=ls.fileno())
    assert p.returncode == 78, p.stderr
    assert "refusing to serve as root" in p.stderr


@root_only
@pytest.mark.parametrize("user,group,why", [
    ("no-such-user-lk", None, "LATCHKEY_USER=no-such-user-lk: no such user"),
    (RUN_USER, "no-such-group-lk", "LATCHKEY_GROUP=no-such-group-lk: no such group"),
    (RUN_USER, None, "not by the run user"),
])
def test_root_with_a_bad_user_refuses(home, user, group, why):
    env = {"LATCHKEY_HOME": str(home), "LATCHKEY_USER": user}
    if group:
        env["LATCHKEY_GROUP"] = group
    p = run_direct(env)
    assert p.returncode == 78, p.stderr
    assert why in p.stderr


def test_responders_never_gain_privileges(server):
    # Every responder sets PR_SET_NO_NEW_PRIVS, root or not.
    procs = descendants(server.proc.pid)
    assert procs
    for pid in procs:
        assert status(pid)["NoNewPrivs"] == "1", pid
