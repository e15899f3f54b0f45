"""Shared fixtures: run core tests against both implementations."""

from __future__ import annotations

import importlib
import os

import pytest

import realtime_fast


def _impls(name: str) -> list:
    params = [pytest.param(f"realtime_fast.{name}_py", id="pure")]
    if not os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1":
        params.append(pytest.param(f"realtime_fast.{name}", id="compiled"))
    return params


def _load(modname: str):
    try:
        return importlib.import_module(modname)
    except ImportError as exc:  # the compiled module was not built here
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip(f"{modname} not built: {exc}")


@pytest.fixture(params=_impls("_audio"))
def audio_impl(request):
    """The ``_audio`` module, once pure and once compiled."""
    return _load(request.param)


@pytest.fixture(params=_impls("_events"))
def events_impl(request):
    """The ``_events`` module, once pure and once compiled."""
    return _load(request.param)


@pytest.fixture(scope="session")
def accelerated() -> bool:
    return realtime_fast.IS_ACCELERATED
