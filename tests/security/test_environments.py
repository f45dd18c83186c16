"""tests/security, run again where the service also runs: as an unprivileged user (with and
without namespaces) and in gVisor.

This run is one environment (root in CI); each of the others runs the
hostile set and the canary's tests against its own emulator there, and
must pass them all.
"""

import re

import pytest

from tests import environments


@pytest.mark.skipif(not environments.OTHERS, reason="only root can start the service as another user or in gVisor")
@pytest.mark.parametrize("environment", environments.OTHERS or ["none"])
def test_the_security_suite_holds_in(environment):
    result = environments.run_security_suite(environment)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"{environment}: {summary}")
    assert result.returncode == 0, result.stdout[-20000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 70, summary  # the whole set ran, not a part of it
    assert "skipped" not in summary and "failed" not in summary, summary
