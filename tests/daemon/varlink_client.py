# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small varlink client written from the specification (varlink.org,
"Method Call" and "Service"), independent of vfmig's own protocol code
(DESIGN.md, Decisions 28): each message is a JSON object terminated by a
NUL byte; a call is {"method", "parameters", "oneway", "more"}; a reply is
{"parameters", "continues"} or {"error", "parameters"}."""
import json
import socket


class VarlinkError(Exception):
    def __init__(self, name, parameters):
        super().__init__(f"{name}: {parameters}")
        self.name = name
        self.parameters = parameters or {}


class Closed(Exception):
    """The service closed the connection."""


class Connection:
    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, message):
        self.send_raw(json.dumps(message).encode() + b"\0")

    def receive(self):
        while b"\0" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("the service closed the connection")
            self.buf += chunk
        text, self.buf = self.buf.split(b"\0", 1)
        message = json.loads(text)
        if not isinstance(message, dict):
            raise ValueError(f"a reply is not an object: {text!r}")
        return message

    def is_closed(self):
        """True when the service hung up (EOF or reset) before sending anything."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    @staticmethod
    def _call_message(method, parameters, more, oneway):
        message = {"method": method}
        if parameters is not None:
            message["parameters"] = parameters
        if more:
            message["more"] = True
        if oneway:
            message["oneway"] = True
        return message

    def call(self, method, parameters=None, oneway=False):
        """One call, one reply: its parameters (None for oneway)."""
        self.send(self._call_message(method, parameters, False, oneway))
        if oneway:
            return None
        reply = self.receive()
        if "error" in reply:
            raise VarlinkError(reply["error"], reply.get("parameters"))
        if reply.get("continues"):
            raise ValueError("continues without more")
        return reply.get("parameters", {})

    def call_more(self, method, parameters=None):
        """Every reply's parameters, until one comes without continues."""
        self.send(self._call_message(method, parameters, True, False))
        while True:
            reply = self.receive()
            if "error" in reply:
                raise VarlinkError(reply["error"], reply.get("parameters"))
            yield reply.get("parameters", {})
            if not reply.get("continues"):
                return


def parse_interface(text):
    """The interface name and the method, type and error names of a varlink
    interface definition (the IDL: comments with #, `interface NAME`,
    `method NAME(...) -> (...)`, `type NAME ...`, `error NAME ...`)."""
    name, methods, errors = None, [], []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("interface "):
            name = line.split()[1]
        elif line.startswith("method "):
            methods.append(line[len("method "):].split("(", 1)[0].strip())
        elif line.startswith("error "):
            errors.append(line.split()[1].split("(", 1)[0])
    return name, methods, errors
