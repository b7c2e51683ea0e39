#!/usr/bin/python3
# link-control.py — host side helper of run-bind.sh: holds the lab VM's e1000e
# link down (QEMU monitor "set_link nic0 off") from boot until the guest asks
# for it, so bind.sh can test an interface that is administratively up with an
# address but has no carrier, deterministically.
#
#   link-control.py MONITOR_SOCKET REQUEST_FILE [NIC_ID]
#
# Connects to QEMU's HMP monitor (a UNIX socket, -monitor unix:PATH,server=on,
# wait=off), sets the link off, then waits until REQUEST_FILE exists (the
# guest creates it in the results share) and sets the link on.  Exits when
# QEMU closes the monitor, or after 600 s.  Messages go to stderr.
import os
import socket
import sys
import time


def main():
    if len(sys.argv) not in (3, 4):
        print("usage: link-control.py MONITOR_SOCKET REQUEST_FILE [NIC_ID]", file=sys.stderr)
        return 2
    path, request = sys.argv[1], sys.argv[2]
    nic = sys.argv[3] if len(sys.argv) == 4 else "nic0"
    deadline = time.monotonic() + 600

    sock = None
    while sock is None:
        if time.monotonic() > deadline:
            return 1
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            sock = s
        except OSError:
            s.close()
            time.sleep(0.02)
    sock.sendall(f"set_link {nic} off\n".encode())
    sock.setblocking(False)

    def alive():
        try:
            return sock.recv(4096) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    while not os.path.exists(request):
        if not alive() or time.monotonic() > deadline:
            return 0
        time.sleep(0.05)
    sock.setblocking(True)
    sock.sendall(f"set_link {nic} on\n".encode())
    # Keep the connection until QEMU exits (closing it early is harmless too).
    sock.settimeout(1)
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
