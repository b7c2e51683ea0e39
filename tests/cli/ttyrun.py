# SPDX-License-Identifier: LGPL-2.1-or-later
"""A command run on a terminal, as a user runs it."""
import os
import pty


def run_pty(argv, env):
    """argv with stdout and stderr on a terminal: its exit code and what it wrote there (lines end in "\\n")."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace").replace("\r\n", "\n")
