#!/bin/sh
#
# tests/bench.sh: `make bench`.  Runs tests/bench/bench.py
# against the build in $B (default build): lighttpd from
# httpd-conf/lighttpd.conf on 127.0.0.1, wrk as the client, the crypto
# bound from tests/bench/cryptobound and the ceiling from the null
# FastCGI responder tests/bench/nullfcgi.  Prints one table and writes
# its figures to $B/bench.json (checked by tests/bench/bench_json.py).
#
#   BENCH_SECONDS  seconds per wrk run (default 10)
#   BENCH_PROCS    lighttpd max-procs (default 4 x cores)
#   BENCH_MFA_USERS, BENCH_MFA_SECONDS, BENCH_MFA_CONC  section 10 (MFA)
#   BENCH_ONLY=mfa-otp  section 10 alone
#   BENCH_ONLY=pg       section 11 alone (Berkeley DB and PostgreSQL)
#   BENCH_ONLY=cgi      section 5 alone (plain CGI overhead)
#   BENCH_ONLY=password,overload  sections 1, 2 and 7 alone (either word
#                       alone: 1 and 2, or 1 and 7), the table only
#
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tests/bench/bench.py "$@"
