"""
make valgrind: read the memcheck logs of every responder of the run
(DIR/vg.PID.log, one per process) and fail unless they hold no error.

A process that ended normally wrote "ERROR SUMMARY: N errors"; one that
a test killed (SIGKILL) wrote none, so the error reports themselves are
counted too, and a crash (SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE).  A
quit signal's default action (a prefork worker whose supervisor died)
is no error.  Prints the processes, the errors and each report's first
lines.

usage: python3 tests/valgrind/scan.py DIR
"""
import re
import sys
from pathlib import Path

# The first line of every memcheck error report (valgrind's manual,
# "Explanation of error messages from Memcheck").
KINDS = re.compile(r"^==\d+== (Invalid (read|write|free)|Conditional jump|"
    r"Use of uninitialised|Syscall param|Mismatched free|"
    r"Source and destination overlap|Argument '.*' of function|"
    r"Invalid alignment|.* definitely lost in|"
    r"Process terminating with default action of signal (4|6|7|8|11) )")
SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) errors")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    logs = sorted(Path(sys.argv[1]).glob("vg.*.log"))
    errors, summarised, shown = 0, 0, 0
    for log in logs:
        text = log.read_text(errors="replace")
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if not KINDS.match(line):
                continue
            errors += 1
            if shown < 20:
                shown += 1
                print("%s:\n  %s" % (log, "\n  ".join(lines[i:i + 12])))
        for m in SUMMARY.finditer(text):
            summarised += 1
            if int(m.group(1)) > 0 and not any(KINDS.match(x) for x in lines):
                errors += int(m.group(1))
    print("valgrind: %d responder processes, %d with a summary, %d errors"
        % (len(logs), summarised, errors))
    if not logs:
        sys.exit("valgrind: no logs in %s: nothing ran under memcheck" % sys.argv[1])
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
