"""
A real OpenLDAP slapd (Debian's slapd package) for the AD/LDAP tests
(docs/COMPAT.md 14), run from a temporary directory on free 127.0.0.1
ports: a generated slapd.conf, the mdb backend, the ppolicy overlay with
a default policy, the memberof overlay (slapo-memberof(5): memberOf on
each member of a groupOfNames), TLS with a throw-away CA
(upstream_idp.make_ca), and a test tree loaded with slapadd before it
starts; the groups are added once it runs, through the overlay.  stop() and start() let
a test take the directory away and bring it back.
"""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import lk
import upstream_idp

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

SUFFIX = "dc=example,dc=test"
PEOPLE = "ou=people," + SUFFIX
GROUPS = "ou=groups," + SUFFIX
SERVICE_DN, SERVICE_PW = "cn=latchkey-svc," + SUFFIX, "svc pw: Qe7!vR2"
ROOT_PW = "root-pw-not-used-by-latchkey"

# Group RDN value (escaped as in a DN): members' uids.
GROUP_MEMBERS = {
    "Staff": ["alice", "bob"],
    "Research\\, Dev": ["alice"],
}

# uid: (password, attributes beyond the inetOrgPerson basics)
USERS = {
    "alice": ("alice dir pw: 5Ty!", {"mail": "alice@example.test",
        "cn": "Alice Liddell", "givenName": "Alice", "sn": "Liddell",
        "telephoneNumber": "+15550100"}),
    # A phone as an administrator may type it: not +E.164, left out.
    "bob": ("bob dir pw: 9Pq#", {"mail": "bob@example.test", "cn": "Bob B",
        "sn": "B", "telephoneNumber": "555 0101"}),
    # pwdAccountLockedTime 000001010000Z: locked until an administrator
    # unlocks it (draft-behera-ldap-password-policy 5.3.3).
    "lena": ("lena dir pw: 2Lk$", {"cn": "Lena Locked", "sn": "Locked",
        "pwdAccountLockedTime": "000001010000Z"}),
    # A password changed long ago: older than the policy's pwdMaxAge.
    "ed": ("ed dir pw: 4Ex%", {"cn": "Ed Expired", "sn": "Expired",
        "pwdChangedTime": "19900101000000Z"}),
    # Reset by an administrator: must be changed (pwdMustChange).
    "rita": ("rita dir pw: 6Rs^", {"cn": "Rita Reset", "sn": "Reset",
        "pwdReset": "TRUE"}),
    # Must pass a second factor (test_ldap's MFA test sets her mfa).
    "mia": ("mia dir pw: 8Mf&", {"mail": "mia@example.test", "cn": "Mia M",
        "sn": "M"}),
}


def _ldif():
    out = [
        "dn: %s\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: example\no: Example\n" % SUFFIX,
        "dn: %s\nobjectClass: organizationalUnit\nou: people\n" % PEOPLE,
        "dn: %s\nobjectClass: organizationalUnit\nou: groups\n" % GROUPS,
        "dn: ou=policies,%s\nobjectClass: organizationalUnit\n"
        "ou: policies\n" % SUFFIX,
        "dn: cn=default,ou=policies,%s\nobjectClass: device\n"
        "objectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\n"
        "pwdMaxAge: 315360000\npwdGraceAuthNLimit: 0\npwdLockout: TRUE\n"
        "pwdMaxFailure: 0\npwdMustChange: TRUE\n" % SUFFIX,
        "dn: %s\nobjectClass: person\ncn: latchkey-svc\nsn: svc\n"
        "userPassword: %s\n" % (SERVICE_DN, SERVICE_PW),
    ]
    for uid, (pw, attrs) in USERS.items():
        e = "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\n" % (
            uid, PEOPLE, uid)
        for k, v in attrs.items():
            e += "%s: %s\n" % (k, v)
        e += "userPassword: %s\n" % pw
        out.append(e)
    return "\n".join(out)


def _groups_ldif():
    out = []
    for cn, uids in GROUP_MEMBERS.items():
        e = "dn: cn=%s,%s\nobjectClass: groupOfNames\n" % (cn, GROUPS)
        e += "cn: %s\n" % cn.replace("\\", "")
        for uid in uids:
            e += "member: uid=%s,%s\n" % (uid, PEOPLE)
        out.append(e)
    return "\n".join(out)


class Slapd:
    def __init__(self, tmp, debug=0):
        """debug: slapd's -d level (256, stats: each operation's result
        and time, etime, in slapd.log)."""
        self.dir = Path(tmp)
        self.debug = debug
        self.ca, self.cert, self.key = upstream_idp.make_ca(self.dir)
        self.port, self.tls_port = lk.free_port(), lk.free_port()
        self.url = "ldap://127.0.0.1:%d" % self.port
        self.tls_url = "ldaps://127.0.0.1:%d" % self.tls_port
        self.conf = self.dir / "slapd.conf"
        self.pidfile = self.dir / "slapd.pid"
        (self.dir / "db").mkdir()
        self.conf.write_text("\n".join([
            "include %s/core.schema" % SCHEMA,
            "include %s/cosine.schema" % SCHEMA,
            "include %s/inetorgperson.schema" % SCHEMA,
            "modulepath %s" % MODULES,
            "moduleload back_mdb",
            "moduleload ppolicy",
            "moduleload memberof",
            "pidfile %s" % self.pidfile,
            "TLSCACertificateFile %s" % self.ca,
            "TLSCertificateFile %s" % self.cert,
            "TLSCertificateKeyFile %s" % self.key,
            "database mdb",
            "maxsize 10485760",
            'suffix "%s"' % SUFFIX,
            'rootdn "cn=admin,%s"' % SUFFIX,
            "rootpw %s" % ROOT_PW,
            "directory %s" % (self.dir / "db"),
            "overlay ppolicy",
            'ppolicy_default "cn=default,ou=policies,%s"' % SUFFIX,
            # Say "locked" to a bind on a locked account, not only 49.
            "ppolicy_use_lockout",
            "overlay memberof",
            "access to attrs=userPassword by self write by anonymous auth "
            "by * none",
            "access to * by * read",
            ""]))
        (self.dir / "tree.ldif").write_text(_ldif())
        subprocess.run([SLAPADD, "-f", str(self.conf), "-l",
            str(self.dir / "tree.ldif")], check=True, capture_output=True)
        self.proc = None
        self.start()
        subprocess.run(["ldapadd", "-x", "-H", self.url, "-D",
            "cn=admin,%s" % SUFFIX, "-w", ROOT_PW],
            input=_groups_ldif().encode(), check=True, capture_output=True)

    def start(self):
        self.proc = subprocess.Popen([SLAPD, "-d", str(self.debug), "-f",
            str(self.conf),
            "-h", "%s/ %s/" % (self.url, self.tls_url)],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "slapd.log", "ab"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = subprocess.run(["ldapwhoami", "-x", "-H", self.url, "-D",
                SERVICE_DN, "-w", SERVICE_PW], capture_output=True)
            if r.returncode == 0:
                return
            assert self.proc.poll() is None, (self.dir / "slapd.log").read_text()
            time.sleep(0.1)
        raise AssertionError("slapd did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pause(self, on):
        """SIGSTOP / SIGCONT: a directory that accepts and never answers."""
        os.kill(self.proc.pid, signal.SIGSTOP if on else signal.SIGCONT)
