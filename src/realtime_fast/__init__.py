"""realtime_fast: a fast Python client for OpenAI's Realtime API.

The API mirrors OpenAI's JavaScript reference client (``RealtimeClient``,
``RealtimeAPI``, ``RealtimeConversation``, ``RealtimeEventHandler``,
``RealtimeUtils``); the wire protocol is the current GA one (beta on request);
the hot paths are compiled with Cython when a compiler was available.
"""

from __future__ import annotations

import logging as _logging

from . import audio as _audio_sel
from . import events as _events_sel
from ._impl import LOAD_ERRORS

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

__version__ = "0.1.0"

#: True when both compiled core modules (audio codecs, event parser) are in use.
IS_ACCELERATED: bool = bool(_audio_sel.COMPILED and _events_sel.COMPILED)

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
