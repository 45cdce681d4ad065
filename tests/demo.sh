#!/bin/sh
#
# tests/demo.sh: `make demo` (after `make deps all`).  Loads the demo tenant
# (db/demo-tenant.json) into a private home and serves it with the real
# lighttpd and httpd-conf/lighttpd.conf on http://127.0.0.1:8080/, in the
# background.  Stop it with `make demo-stop` (tests/demo-stop.sh).
#
#   LATCHKEY_DEMO   demo directory (default $HOME/.latchkey-demo): home/ is
#                   the database environment, run/ the pid file, sockets
#                   and logs
#   LATCHKEY_BUILD  build directory (default build)

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${LATCHKEY_BUILD:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
DEMO=${LATCHKEY_DEMO:-${HOME:-/tmp}/.latchkey-demo}
PORT=8080	# the issuer in db/demo-tenant.json is http://127.0.0.1:8080/
BASE="http://127.0.0.1:$PORT"
TENANT="$ROOT/db/demo-tenant.json"
CTL="$B/db/latchkeyctl"
FCGI="$B/cgi-bin/latchkey.fcgi"
CONF="$ROOT/httpd-conf/lighttpd.conf"
PIDFILE="$DEMO/run/lighttpd.pid"

die() { echo "demo: $*" >&2; exit 1; }

for f in "$CTL" "$FCGI"; do
	[ -x "$f" ] || die "$f is not built: run make first"
done
[ -r "$TENANT" ] || die "$TENANT is missing"
command -v lighttpd >/dev/null 2>&1 || die "lighttpd not installed: make deps"
command -v curl >/dev/null 2>&1 || die "curl not installed: make deps"

curl_line() {
	cat <<EOT
Get a token (password grant; add scope=openid for an ID token too):

  curl -s $BASE/oauth/token \\
    -d grant_type=password -d client_id=demo-app \\
    -d client_secret=demo-secret-change-me \\
    --data-urlencode username=alice@example.com \\
    --data-urlencode 'password=correct horse battery staple' \\
    --data-urlencode audience=https://api.demo.latchkey/

The legacy endpoint, as old SDKs call it (JSON, no secret):

  curl -s $BASE/oauth/ro -H 'Content-Type: application/json' \
    -d '{"client_id":"demo-native","connection":"Username-Password-Authentication","grant_type":"password","username":"alice@example.com","password":"correct horse battery staple","scope":"openid"}'

Keys: $BASE/.well-known/jwks.json   Discovery: $BASE/.well-known/openid-configuration
Admin: $CTL -d $DEMO/home user list
Log:   $DEMO/run/error.log
Stop:  make demo-stop   (or: kill \$(cat $PIDFILE))
EOT
}

if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
	echo "demo: already running (pid $(cat "$PIDFILE")) on $BASE/"
	curl_line
	exit 0
fi

# The home holds password hashes and signing keys: private to this user.
umask 077
mkdir -p "$DEMO/home" "$DEMO/run"
chmod 0700 "$DEMO" "$DEMO/home" "$DEMO/run"

echo "demo: loading $TENANT into $DEMO/home"
"$CTL" -d "$DEMO/home" import "$TENANT" >/dev/null

if curl -s -o /dev/null "$BASE/" 2>/dev/null; then
	die "something already listens on 127.0.0.1:$PORT"
fi

# Started as root (a container), the responder refuses to serve as root
# unless told to (latchkey.fcgi(8)): the demo home is root's, so it is.
[ "$(id -u)" != 0 ] || export LATCHKEY_USER="${LATCHKEY_USER:-root}"

echo "demo: starting lighttpd on $BASE/"
rm -f "$PIDFILE"
# -D keeps lighttpd in the foreground of its own session, so the
# responder's stderr (one line per request) reaches run/error.log.
LATCHKEY_PORT=$PORT LATCHKEY_FCGI=$FCGI LATCHKEY_HOME="$DEMO/home" \
LATCHKEY_RUNDIR="$DEMO/run" \
    nohup setsid lighttpd -D -f "$CONF" </dev/null >>"$DEMO/run/error.log" 2>&1 &

i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/.well-known/jwks.json" \
    2>/dev/null)" = 200 ]; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		tail -n 20 "$DEMO/run/error.log" >&2 || true
		die "the server did not come up in 10 s (log above)"
	fi
	sleep 0.1
done

# Prove the curl line below works before printing it.
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/oauth/token" \
    -d grant_type=password -d client_id=demo-app \
    -d client_secret=demo-secret-change-me \
    --data-urlencode username=alice@example.com \
    --data-urlencode 'password=correct horse battery staple' \
    --data-urlencode audience=https://api.demo.latchkey/)
[ "$code" = 200 ] || echo "demo: warning: the sample token request answered $code" >&2

echo "demo: running (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
echo
curl_line
