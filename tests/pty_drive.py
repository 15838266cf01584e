"""Runs a command on a fresh pseudo-terminal (its controlling terminal, so /dev/tty is it) and
answers its prompts, for the tests of interactive behaviour.

Usage: python3 tests/pty_drive.py SCRIPT -- CMD ARGS...
SCRIPT is a JSON list of [expect, send] pairs: wait (at most 15 s) until EXPECT has appeared
in the output since the last answer, then type SEND and a newline. Then the command's output
is read to its end. Prints everything the terminal showed to stdout and exits with the
command's status (124 when an expected prompt never came, printing what came instead).
"""
import json
import os
import pty
import select
import sys
import time

script = json.loads(sys.argv[1])
argv = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

seen = b""
mark = 0


def read_some(deadline):
    global seen
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    r, _, _ = select.select([fd], [], [], left)
    if not r:
        return False
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    if not data:
        return None
    seen += data
    return True


for expect, send in script:
    deadline = time.monotonic() + 15
    while expect.encode() not in seen[mark:]:
        got = read_some(deadline)
        if not got:
            sys.stdout.write(seen.decode("utf-8", "replace"))
            sys.stdout.write(f"\n[pty_drive: never saw {expect!r}]\n")
            os.kill(pid, 9)
            sys.exit(124)
    mark = seen.index(expect.encode(), mark) + len(expect)
    os.write(fd, send.encode() + b"\n")

deadline = time.monotonic() + 30
while read_some(deadline):
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
