#!/usr/bin/python3
"""
tests/lint/usage.py: latchkeyctl's usage, which it prints from its
command and option tables, and the SYNOPSIS of its man page must list
the same commands, in the same order, with the same arguments and
options.  Both are compared as text: the page rendered by mandoc, blanks
collapsed, a "|" and the blanks around it counted as one "|".

  python3 tests/lint/usage.py PROGRAM PAGE          compare; exit 1 on
                                                    any difference
  python3 tests/lint/usage.py --mdoc PROGRAM        print the SYNOPSIS
                                                    body in mdoc
"""
import difflib
import re
import subprocess
import sys


def usage_text(prog):
    p = subprocess.run([prog, "--help"], capture_output=True, text=True,
        check=True)
    return re.sub(r"^usage:", "", p.stdout)


def synopsis_text(page):
    p = subprocess.run(["mandoc", "-Tascii", "-O", "width=1000", page],
        capture_output=True, text=True, check=True)
    lines = re.sub(r".\x08", "", p.stdout).splitlines()
    start = lines.index("SYNOPSIS") + 1
    end = lines.index("DESCRIPTION")
    return "\n".join(lines[start:end])


def commands(text):
    """One normalised string per command, each starting with the name."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" ?\| ?", "|", text)
    return [c.strip() for c in re.split(r"(?=\blatchkeyctl )", text)
        if c.strip()]


def mdoc_arg(arg):
    if "|" in arg:
        return "Cm " + " | ".join(arg.split("|"))
    return "Ar " + arg


def mdoc_opt(alt):
    name, _, arg = alt.partition(" ")
    return "Fl -" + name[2:] + (" " + mdoc_arg(arg) if arg else "")


def mdoc_group(word):
    """An option word: "--a ARG", "[--a | --b]" or "(--a | --b)"."""
    macro = {"[": ".Op ", "(": ".Pq "}.get(word[0], ".")
    if macro != ".":
        word = word[1:-1]
    return macro + " | ".join(mdoc_opt(a) for a in word.split(" | "))


def mdoc(prog):
    out = [".Nm", ".Op Fl d Ar home", ".Ar command ...", ".Pp"]
    for line in re.split(r"\n(?=       \S)", usage_text(prog))[1:]:
        line = re.sub(r"\s+", " ", line).strip()
        words = re.findall(r"\[[^]]*\]|\([^)]*\)|--\S+(?: [^-[(]\S*)?|\S+",
            line)
        out.append(".Nm")
        cmd = [w for w in words[1:] if w[0] not in "[(-"]
        out.append(".Cm " + " ".join(w for w in cmd if not w.isupper()))
        args = [w for w in cmd if w.isupper()]
        if args:
            out.append(".Ar " + " ".join(args))
        out += [mdoc_group(w) for w in words[1:] if w[0] in "[(-"]
    return "\n".join(out)


def main(argv):
    if len(argv) == 3 and argv[1] == "--mdoc":
        print(mdoc(argv[2]))
        return 0
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    have = commands(usage_text(argv[1]))
    want = commands(synopsis_text(argv[2]))
    if have == want:
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        [w + "\n" for w in want], [h + "\n" for h in have],
        argv[2] + " SYNOPSIS", argv[1] + " --help"))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
