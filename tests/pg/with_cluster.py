"""
Run a command with a throw-away PostgreSQL cluster (pgcluster.py) and an
empty UTF8 database in LATCHKEY_TEST_DATABASE (a libpq connection
string); its exit status is the command's.  `make unit-pg`:

    python3 tests/pg/with_cluster.py build/tests/unit/test_store_pg
"""
import os
import subprocess
import sys

import pgcluster


def main(argv):
    if len(argv) < 2:
        print("usage: with_cluster.py command ...", file=sys.stderr)
        return 2
    c = pgcluster.PgCluster()
    try:
        c.start()
        c.createdb("lk_unit")
        env = dict(os.environ, LATCHKEY_TEST_DATABASE=c.conninfo("lk_unit"))
        return subprocess.run(argv[1:], env=env).returncode
    finally:
        c.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
