"""
pytest fixtures for the end-to-end tests.

`server` is the main test tenant (RS256, default directory DB1, no default
audience) served by the real lighttpd from httpd-conf/lighttpd.conf;
`es256_server` a second tenant with its own home (ES256 keys, no default
directory, a default audience).  Each is started once per session and
stopped at the end; its error log is checked for sanitizer reports after
every test and once more after the server has stopped.

LATCHKEY_BUILD (default "build") names the build directory whose
cgi-bin/latchkey.fcgi and db/latchkeyctl are tested (build-asan under
`make check`).  LATCHKEY_KEEP_TMP=1 keeps the temporary directories.
"""
import os

import pytest

import lk


def pytest_report_header(config):
    return "latchkey build: %s, store: %s" % (lk.BUILD, lk.BACKEND)


def pytest_configure(config):
    config.addinivalue_line("markers", "bdb_only(reason): a test of the "
        "Berkeley DB store itself (its files, the environment's recovery), "
        "skipped under LATCHKEY_TEST_BACKEND=pg")


def pytest_collection_modifyitems(config, items):
    if not lk.PG:
        return
    for item in items:
        m = item.get_closest_marker("bdb_only")
        if m is not None:
            item.add_marker(pytest.mark.skip(reason="Berkeley DB only: "
                + m.args[0]))


def pytest_sessionstart(session):
    missing = [str(p) for p in (lk.FCGI, lk.CTL) if not os.access(p, os.X_OK)]
    if missing:
        raise pytest.UsageError("not built (run make first): " + ", ".join(missing))


_servers = []


def _start(s, after=None):
    """Start server s (its tenant file already edited), then after(s), the
    set-up that needs it running; its log is watched for sanitizer reports
    from then on, and _finish stops it."""
    _servers.append(s)
    try:
        s.start()
        if after is not None:
            after(s)
    except BaseException:
        s.stop()
        s.cleanup()	# the error message carries the log
        raise
    return s


def _serve(name, **kw):
    return _start(lk.Server(name, **kw))


def _finish(s):
    s.stop()
    found = s.sanitizer_reports()
    if found:
        pytest.fail("sanitizer report in %s (%s); log kept in %s:\n%s" % (
            s.errlog, ", ".join(found), s.tmp, s.log()[-8000:]), pytrace=False)
    s.cleanup()


@pytest.fixture(scope="session")
def server():
    s = _serve("rs256")
    yield s
    _finish(s)


@pytest.fixture(scope="session")
def es256_server():
    s = _serve("es256", alg="ES256", default_directory=None,
        default_audience=lk.API2)
    yield s
    _finish(s)


@pytest.fixture(autouse=True)
def _no_sanitizer_reports(request):
    """Fail the test during which a sanitizer wrote to a server's log."""
    before = {id(s): len(s.log()) for s in _servers}
    yield
    for s in _servers:
        new = s.log()[before.get(id(s), 0):]
        found = s.sanitizer_reports(new)
        if found:
            pytest.fail("sanitizer report during this test (%s):\n%s" % (
                ", ".join(found), new[-8000:]), pytrace=False)
