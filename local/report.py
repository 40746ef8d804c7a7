"""The one report style of the test harnesses: a line per check, then a summary line, and
the exit code."""


class Report:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print(f"  ok   {what}", flush=True)

    def fail(self, what, details=()):
        self.failed += 1
        print(f"  FAIL {what}", flush=True)
        for line in details:
            print(f"       {line}", flush=True)

    def check(self, what, problems):
        """`ok` when `problems` is empty, else `fail` with them."""
        if problems:
            self.fail(what, problems)
        else:
            self.ok(what)

    def finish(self):
        """Prints the summary; returns the exit code."""
        print(f"\n{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed or not self.passed else 0
