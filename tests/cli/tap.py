# SPDX-License-Identifier: LGPL-2.1-or-later
"""A TAP reporter for unittest, for meson's TAP protocol."""
import unittest


class TAPResult(unittest.TestResult):
    """Prints TAP lines as tests finish (class fixtures run as usual)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, ok, test, extra=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {test.id()}{extra}", flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(False, test)
        print("\n".join("# " + l for l in self.failures[-1][1].splitlines()))

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, test)
        print("\n".join("# " + l for l in self.errors[-1][1].splitlines()))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, f" # SKIP {reason}")


def run_tap(module):
    """Runs a module's tests and prints TAP; returns the exit status."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    print(f"1..{suite.countTestCases()}", flush=True)
    result = TAPResult()
    suite.run(result)
    return 0 if result.wasSuccessful() else 1
