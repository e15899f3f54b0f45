"""pytest plugin (entry point ``realtime_fast_mock``): a mock Realtime server per test.

The ``realtime_mock`` fixture starts a :class:`~realtime_fast.mock.MockRealtimeServer`
in a background thread (so it works in sync and async tests, with any event loop)
and yields its handle: ``realtime_mock.url``, ``.script``, ``.frames``,
``.frames_of_type(...)``, ``.events(...)``, ``.pacing``...  The server uses the
``fast`` profile unless the test says otherwise::

    @pytest.mark.realtime_mock(profile="realistic", allow_beta=False)
    def test_my_app(realtime_mock):
        realtime_mock.script.reply("Hi!")
        run_my_app(url=realtime_mock.url)

Importing this module is cheap: the server is only imported by the fixture.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "realtime_mock(**options): MockRealtimeServer options for the realtime_mock fixture (default profile='fast')",
    )


@pytest.fixture
def realtime_mock(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A running mock Realtime server (thread handle); options from ``@pytest.mark.realtime_mock(...)``."""
    from realtime_fast.mock import MockRealtimeServer

    marker = request.node.get_closest_marker("realtime_mock")
    options = dict(marker.kwargs) if marker is not None else {}
    options.setdefault("profile", "fast")
    handle = MockRealtimeServer(**options).run_in_thread()
    try:
        yield handle
    finally:
        handle.stop()
