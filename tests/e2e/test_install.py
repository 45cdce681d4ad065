"""
make install: PREFIX and DESTDIR are honoured; the responder, the admin
command, their man pages, every file of httpd-conf/ and the demo tenant
land where the README says, with their modes; latchkey.service names the
installed responder; and the installed pieces serve: the installed
latchkeyctl loads the installed demo tenant, and lighttpd started with
the installed lighttpd.conf and responder publishes the JWKS.

`make -o all`: install what LATCHKEY_BUILD holds (build-asan under make
check) instead of rebuilding it with other flags.
"""
import filecmp
import os
import subprocess
import time

import pytest
import requests

import lk

PREFIX = "/opt/latchkey-test"


@pytest.fixture(scope="module")
def dest(tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    p = subprocess.run(["make", "-s", "-o", "all", "B=%s" % lk.BUILD,
        "PREFIX=%s" % PREFIX, "DESTDIR=%s" % d, "install"], cwd=lk.ROOT,
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return d / PREFIX.lstrip("/")


def mode(p):
    return os.stat(p).st_mode & 0o7777


def test_programs_and_man_pages(dest):
    assert mode(dest / "bin/latchkeyctl") == 0o755
    assert mode(dest / "lib/cgi-bin/latchkey.fcgi") == 0o755
    for page in ("latchkeyctl.8", "latchkey.fcgi.8"):
        assert mode(dest / "share/man/man8" / page) == 0o644
    assert filecmp.cmp(dest / "share/man/man8/latchkeyctl.8",
        lk.ROOT / "db/latchkeyctl.8", shallow=False)
    p = subprocess.run([str(dest / "bin/latchkeyctl"), "--help"],
        capture_output=True, text=True)
    assert p.returncode == 0 and "import-auth0" in p.stdout


def test_every_config_and_the_demo_tenant(dest):
    share = dest / "share/latchkey"
    names = sorted(os.listdir(lk.ROOT / "httpd-conf"))
    for want in ("lighttpd.conf", "apache-fcgid.conf", "apache-proxy-fcgi.conf",
            "nginx.conf", "htaccess-cgi", "apache-cgi-host.conf",
            "latchkey.socket", "latchkey.service"):
        assert want in names
    assert sorted(os.listdir(share / "httpd-conf")) == names
    for n in names:
        assert mode(share / "httpd-conf" / n) == 0o644, n
        if n != "latchkey.service":
            assert filecmp.cmp(share / "httpd-conf" / n,
                lk.ROOT / "httpd-conf" / n, shallow=False), n
    unit = (share / "httpd-conf/latchkey.service").read_text()
    assert "\nExecStart=%s/lib/cgi-bin/latchkey.fcgi\n" % PREFIX in unit
    assert mode(share / "demo-tenant.json") == 0o644


def test_installed_pieces_serve(dest, tmp_path):
    home, run = tmp_path / "home", tmp_path / "run"
    run.mkdir()
    p = subprocess.run([str(dest / "bin/latchkeyctl"), "-d", str(home),
        "import", str(dest / "share/latchkey/demo-tenant.json")],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, **lk.store_env(home)))
    assert p.returncode == 0, p.stderr
    port = lk.free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH",
        "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LATCHKEY_USER")}
    env.update(LATCHKEY_PORT=str(port), LATCHKEY_HOME=str(home),
        LATCHKEY_RUNDIR=str(run),
        LATCHKEY_FCGI=str(dest / "lib/cgi-bin/latchkey.fcgi"))
    env.update(lk.store_env(home))
    log = open(run / "stderr.log", "ab")
    srv = subprocess.Popen([lk.LIGHTTPD, "-D", "-f",
        str(dest / "share/latchkey/httpd-conf/lighttpd.conf")], env=env,
        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        start_new_session=True)
    try:
        deadline = time.time() + 20
        while True:
            assert srv.poll() is None, (run / "stderr.log").read_text()
            try:
                r = requests.get("http://127.0.0.1:%d/.well-known/jwks.json"
                    % port, timeout=5)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.time() < deadline, (run / "stderr.log").read_text()
            time.sleep(0.05)
        assert r.json()["keys"][0]["kid"]
    finally:
        srv.terminate()
        srv.wait(15)
        log.close()
    text = (run / "stderr.log").read_text(errors="replace")
    assert not [m for m in lk.SANITIZER_MARKERS if m in text], text
