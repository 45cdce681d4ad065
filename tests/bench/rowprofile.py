"""
Where a row's responder CPU goes, from perf's samples of the row itself
(make bench, section 3).

"CPU outside the crypto" as the responders' CPU a request less the crypto
timed by tests/bench/cryptobound subtracts two measurements taken at
different moments, and this VM's cores change speed between moments by
more than the figure.  Here both sides come from the same moments:
`perf record -e cpu-clock --call-graph dwarf` samples the responders
while the row runs, and each sample is put in one part by its call
chain:

  crypto   the signature (a frame of OpenSSL's EVP_DigestSign*) or the
           password verify (a frame of libargon2 or libxcrypt): what the
           crypto bound times;
  fastcgi  libfcgi: accepting the web server's connection, reading the
           request, writing the answer, closing;
  store    Berkeley DB (or libpq), with the system calls it makes;
  json     jansson: parsing records, writing tokens and answers;
  other    the rest: latchkey's own code, libc, the kernel's work for
           them (the recovery lock, the stall timer, the log line).

A part's share of the samples times the responders' CPU a request (from
/proc, the same row) is its CPU a request.  perf's own work on a sample
(copying 16 KiB of stack) is charged to the sampled process: at 499
samples a second per process, about a quarter of a percent.
"""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

PARTS = ("crypto", "fastcgi", "store", "json", "other")
FREQ = 499
# OpenSSL's one-shot and two-step signing calls: the signature proper.
SIGN_SYMS = ("EVP_DigestSign", "EVP_DigestSignUpdate", "EVP_DigestSignFinal")
# The libraries of each part, by the start of their file name.
PART_LIBS = (
    ("crypto", ("libargon2.so", "libcrypt.so")),
    ("fastcgi", ("libfcgi.so",)),
    ("store", ("libdb-5.3.so", "libpq.so")),
    ("json", ("libjansson.so",)),
)
FRAME = re.compile(r"^\s*[0-9a-f]+ (\S+) \((.*)\)$")


def available():
    """perf is installed and may sample other processes."""
    return shutil.which("perf") is not None


class Record:
    """perf record of the processes pids, from now to stop()."""

    def __init__(self, tmp, pids, name):
        self.data = Path(tmp) / ("perf-%s.data" % name)
        self.proc = subprocess.Popen(["perf", "record", "-q", "-e",
            "cpu-clock", "-F", str(FREQ), "--call-graph", "dwarf,16384",
            "-o", str(self.data), "-p", ",".join(str(p) for p in pids)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        # perf attaches to each process before its first sample.
        time.sleep(0.5)

    def stop(self):
        """The samples' parts: {"samples": n, part: share, ...}, or {}
        when perf failed."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return {}
        if self.proc.returncode not in (0, -signal.SIGINT) or \
                not self.data.exists():
            return {}
        p = subprocess.run(["perf", "script", "-F", "comm,ip,sym,dso", "-i",
            str(self.data)], capture_output=True, text=True)
        self.data.unlink()
        return shares(p.stdout) if p.returncode == 0 else {}


def part_of(frames):
    """The part of one sample: frames, [(symbol, library file)], leaf
    first."""
    libs = [os.path.basename(dso) for _, dso in frames]
    if any(sym in SIGN_SYMS for sym, _ in frames):
        return "crypto"
    for part, prefixes in PART_LIBS:
        if any(lib.startswith(prefixes) for lib in libs):
            return part
    return "other"


def shares(script):
    """perf script's samples (a header line, then one line per frame)
    sorted into PARTS: {"samples": n, part: share of n}."""
    counts = dict.fromkeys(PARTS, 0)
    n = 0
    for block in script.split("\n\n"):
        frames = [m.groups() for m in map(FRAME.match, block.splitlines())
            if m]
        if not frames:
            continue
        counts[part_of(frames)] += 1
        n += 1
    out = {"samples": n}
    out.update((k, v / n if n else 0.0) for k, v in counts.items())
    return out


def line(cpu_ms, parts):
    """A row's CPU a request by part, for the table."""
    if not parts or not parts["samples"]:
        return "no perf samples"
    outside = cpu_ms * (1 - parts["crypto"])
    return "crypto %.3f ms, outside it %.3f ms: %s (%d samples)" % (
        cpu_ms * parts["crypto"], outside, ", ".join("%s %.3f" % (k,
        cpu_ms * parts[k]) for k in PARTS[1:]), parts["samples"])


# Four samples as perf script prints them (make lint checks their parts).
SAMPLE = """latchkey.fcgi 
\t          130586 [unknown] (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)
\t          2814dc RSA_sign (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)
\t          217543 EVP_DigestSignFinal (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)
\t           2675f sign_evp (/build/cgi-bin/latchkey.fcgi)

latchkey.fcgi 
\tffffffff81b0c1a0 finish_task_switch.isra.0 ([kernel.kallsyms])
\t            4a2b OS_Accept (/usr/lib/x86_64-linux-gnu/libfcgi.so.0.0.0)
\t            e900 main (/build/cgi-bin/latchkey.fcgi)

latchkey.fcgi 
\t            885e [unknown] (/usr/lib/x86_64-linux-gnu/libjansson.so.4.14.0)
\t            9123 json_dumps (/usr/lib/x86_64-linux-gnu/libjansson.so.4.14.0)
\t           2675f sign_evp (/build/cgi-bin/latchkey.fcgi)

latchkey.fcgi 
\t          3c0a1 getenv (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t            e900 main (/build/cgi-bin/latchkey.fcgi)
"""


def selftest():
    """The parts of SAMPLE: one sample each of crypto, fastcgi, json and
    other (make lint)."""
    got = shares(SAMPLE)
    want = {"samples": 4, "crypto": 0.25, "fastcgi": 0.25, "store": 0.0,
        "json": 0.25, "other": 0.25}
    if got != want:
        raise SystemExit("rowprofile.py: parts %r, not %r" % (got, want))
    print("rowprofile.py: the parts of a perf script sample")


if __name__ == "__main__":
    selftest()
