"""realtime_fast: a fast Python client for OpenAI's Realtime API.

The API mirrors OpenAI's JavaScript reference client (``RealtimeClient``,
``RealtimeAPI``, ``RealtimeConversation``, ``RealtimeEventHandler``,
``RealtimeUtils``); the wire protocol is the current GA one (beta on request);
the hot paths are compiled with Cython when a compiler was available.
"""

from __future__ import annotations

import logging as _logging

from ._impl import LOAD_ERRORS, accelerated

# A library logs, the application decides where to: without this, warnings
# would reach stderr through logging's last-resort handler.
_logging.getLogger("realtime_fast").addHandler(_logging.NullHandler())
from .api import ConnectionStateError, RealtimeAPI
from .audio import AudioBuffer
from .client import RealtimeClient
from .conversation import ConversationError, RealtimeConversation
from .errors import ConnectTimeout, EventParseError, HandshakeRejected, MessageTooLarge, RealtimeError, TransportError
from .event_handler import RealtimeEventHandler, in_thread
from .utils import RealtimeUtils
from ._version import __version__  # noqa: E402  (after the logger set-up above)

#: True when the whole compiled core is in use: audio codecs, event parser, conversation core, client fast path.
IS_ACCELERATED: bool = accelerated()

__all__ = [
    "IS_ACCELERATED",
    "LOAD_ERRORS",
    "AudioBuffer",
    "ConnectTimeout",
    "ConnectionStateError",
    "ConversationError",
    "EventParseError",
    "HandshakeRejected",
    "MessageTooLarge",
    "RealtimeAPI",
    "RealtimeClient",
    "RealtimeConversation",
    "RealtimeError",
    "RealtimeEventHandler",
    "RealtimeUtils",
    "TransportError",
    "__version__",
    "in_thread",
]
