"""Fixtures giving integration tests a real Kafka broker.

``kafka_bootstrap`` resolves to ``$KAFKA_BOOTSTRAP_SERVERS`` when that is set
(an externally managed broker); otherwise one local broker from
:mod:`devkit.localkafka` is started for the whole session and stopped at its
end.  Without ``java`` (or without ``mvn`` while the jars are not cached yet)
the tests that need a broker are skipped on a developer machine but fail when
``CI`` is set, so a CI run can never pass by silently skipping them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

from devkit.localkafka import LocalKafka, is_fetched, missing_tools

# kafka-python 3.0.x loads its protocol schemas at import time through the
# importlib.resources legacy API, which warns on Python 3.11+; the suite turns
# warnings into errors, so import it once here with exactly that one silenced.
KAFKA_PYTHON_RESOURCE_WARNING = r"(read_text|open_text) is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", KAFKA_PYTHON_RESOURCE_WARNING, DeprecationWarning)
    import kafka  # noqa: F401


def _require_tools() -> None:
    """Skip (or, under CI, fail) the requesting test if a local broker cannot run."""
    missing = missing_tools(need_mvn=not is_fetched())
    if not missing:
        return
    reason = (
        f"a local Kafka broker needs {' and '.join(missing)} on PATH "
        "(or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so not skipping: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def local_kafka_tools() -> None:
    """Ensure ``java`` (and ``mvn`` if the jars are not cached) exist; see module doc."""
    _require_tools()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address ``host:port`` of a running broker for this test session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    _require_tools()
    with LocalKafka() as broker:
        yield broker.bootstrap_servers
