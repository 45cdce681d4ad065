#!/bin/sh
# The end-to-end tests' passwordless delivery command (a stand-in for an
# SMS gateway or sendmail): latchkey runs it without a shell as
#   deliver_capture.sh FILE {recipient} {code}
# and it appends "<recipient> <code> <LATCHKEY_CODE> <LATCHKEY_CONNECTION>
# <LATCHKEY_SEND>" to FILE, so a test can read the code it was sent and
# check the argument and environment forms agree.
set -eu
out=$1
printf '%s %s %s %s %s\n' "$2" "$3" "$LATCHKEY_CODE" "$LATCHKEY_CONNECTION" \
    "$LATCHKEY_SEND" >>"$out"
