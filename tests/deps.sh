#!/bin/sh
#
# tests/deps.sh: the Debian 12 packages latchkey needs, in one place.
#
#   sh tests/deps.sh --check     exit 1 and list the missing packages
#   sh tests/deps.sh --install   apt-get install -y the missing ones
#                                (as root, or through sudo otherwise)
#   sh tests/deps.sh --list      print the whole list
#
# Used by `make deps-check` (before `make check`), `make deps` (before
# `make demo`) and .ci/run.

set -eu

# To build the responder, the admin command, the unit tests and the
# fuzzers (clang with its libFuzzer and sanitizer runtimes).
BUILD_PKGS="gcc
clang
libclang-rt-14-dev
make
pkg-config
libfcgi-dev
libjwt-dev
libjansson-dev
libssl-dev
libargon2-dev
libcrypt-dev
libdb5.3-dev
libcmocka-dev
libyaml-dev
libcurl4-openssl-dev
libldap-dev
libpq-dev"

# To run the end-to-end tests, the demo, the man page lint and the
# benchmark (wrk; perf for the samples of tests/bench/rowprofile.py).
TOOL_PKGS="db5.3-util
mandoc
lighttpd
python3
python3-pytest
python3-pyflakes
python3-requests
python3-jwt
slapd
ldap-utils
python3-cryptography
python3-jwcrypto
python3-pyotp
curl
apache2
libapache2-mod-fcgid
nginx
spawn-fcgi
wrk
linux-perf
valgrind
chromium
postgresql"

usage() {
	echo "usage: sh tests/deps.sh --check | --install | --list" >&2
	exit 2
}

# Print the packages of the list that dpkg does not have installed.
missing() {
	for p in $BUILD_PKGS $TOOL_PKGS; do
		s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		case "$s" in
		*" installed") ;;
		*) echo "$p" ;;
		esac
	done
}

[ $# -eq 1 ] || usage

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: dpkg-query not found: latchkey targets Debian 12" >&2
	exit 1
fi

case "$1" in
--list)
	for p in $BUILD_PKGS $TOOL_PKGS; do echo "$p"; done
	;;
--check)
	m=$(missing)
	if [ -n "$m" ]; then
		echo "deps.sh: missing Debian packages:" $m >&2
		echo "deps.sh: install them with: make deps" \
		    "(or sh tests/deps.sh --install)" >&2
		exit 1
	fi
	echo "deps.sh: all packages installed"
	;;
--install)
	m=$(missing)
	if [ -z "$m" ]; then
		echo "deps.sh: all packages installed"
		exit 0
	fi
	if [ "$(id -u)" -eq 0 ]; then
		SUDO=
	elif command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "deps.sh: not root and no sudo; install as root:" $m >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	echo "deps.sh: installing:" $m
	# apache2 and nginx start their system services on install, both on
	# port 80, and the second then fails its postinst.  latchkey uses
	# neither service (the tests start their own instances on free
	# loopback ports), so keep them from starting for this install
	# through Debian's policy-rc.d interface, unless one is in place.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" \
		    >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d'
		trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	# Update the package lists once, only when they were never fetched
	# or when the first install attempt cannot find a package.
	if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$' || true)" ]; then
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends $m
	elif ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $m; then
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends $m
	fi
	m=$(missing)
	if [ -n "$m" ]; then
		echo "deps.sh: still missing:" $m >&2
		exit 1
	fi
	;;
*)
	usage
	;;
esac
