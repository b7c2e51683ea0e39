# SPDX-License-Identifier: LGPL-2.1-or-later
"""A command run on a terminal, as a user runs it."""
import os
import pty

# Written on the terminal after the command has exited: everything before it
# has been read once it is. Reading until the master side reports EIO alone
# lost the end of the output now and then (Linux may hang a pty up before the
# master has read what the slave wrote just before it closed).
END = "\n--ttyrun-end-of-output-- "


def run_pty(argv, env):
    """argv with stdout and stderr on a terminal: its exit code and what it wrote there (lines end in "\\n")."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            script = '"$@"; rc=$?; printf "%s%d\\n" "$TTYRUN_END" "$rc"; exit "$rc"'
            os.execve("/bin/sh", ["sh", "-c", script, "sh", *argv], dict(env, TTYRUN_END=END))
        finally:
            os._exit(127)
    raw = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
        text = raw.replace(b"\r\n", b"\n").decode("utf-8", "replace")
        if END in text and text.endswith("\n") and text.rindex(END) < text.rindex("\n"):
            break  # the sentinel line is whole: nothing of the command is left to read
    _, status = os.waitpid(pid, 0)  # before closing: a hang-up would kill the shell before its exit
    os.close(fd)
    text = raw.replace(b"\r\n", b"\n").decode("utf-8", "replace")
    if END not in text:
        raise AssertionError(f"{argv[0]}: the terminal's output ended before the command did: {text!r}")
    return os.waitstatus_to_exitcode(status), text[:text.rindex(END)]
