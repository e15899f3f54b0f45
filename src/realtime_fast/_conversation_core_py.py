"""The conversation's item store and the rules of the streamed deltas: the specification of ``_conversation_core``.

:class:`ConversationCore` is the base of
:class:`~realtime_fast.RealtimeConversation`: it holds the items by id, their
audio buffers and the ids the server used twice, and owns how the events that
make up almost all of a response change an item:

* :meth:`ConversationCore.apply_text`: a text, transcript or function
  arguments delta grows its item's two copies of that text;
* :meth:`ConversationCore.apply_audio`: an audio delta, already decoded onto
  its item's buffer by the receive path, becomes the ``conversation.updated``
  delta (the new samples as ``bytes``).

Both return what changed, or None when the delta is not a plain one (an
unknown or duplicated item, a content part that is not there): the
conversation's event processors then say why, or ignore it.  The compiled
twin is the same class, for the client's compiled receive path to call at C
level; :func:`append_text` is the string rule both use.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Set, Tuple

__all__ = ["ConversationCore", "append_text"]

Item = Dict[str, Any]


def append_text(holder: Dict[str, Any], key: str, delta: str) -> None:
    """``holder[key] += delta`` for streamed text, in amortised O(len(delta)).

    A missing or empty value counts as "".  The string is taken out of the dict
    while it grows: when nothing else refers to it, CPython then extends it in
    place instead of copying the whole text for every delta (a long response's
    transcript would cost O(n^2)).  A string someone else holds is copied, as
    ``+`` always does, so nobody sees it change.
    """
    text = holder.get(key)
    if type(text) is not str:
        holder[key] = (text or "") + delta  # None, or what the server sent: the plain rule (and its error)
        return
    holder[key] = None
    text += delta
    holder[key] = text


class ConversationCore:
    """Items by id, their audio buffers, and the streamed-delta rules (see the module docstring).

    The three containers live as long as the object (cleared in place, never
    replaced): the receive path holds ``audio_buffers``.
    """

    def __init__(self) -> None:
        #: item id -> the stored item.
        self.item_lookup: Dict[str, Item] = {}
        #: item id -> the item's audio buffer (the same object as ``item["formatted"]["audio"]``);
        #: the receive path decodes audio deltas straight into these.
        self.audio_buffers: Dict[str, Any] = {}
        #: Ids the server gave a second item; later events naming them are ignored.
        self.duplicate_ids: Set[str] = set()
        #: False: an item's audio buffer keeps none of the samples once a delta was reported (its
        #: ``offset`` still counts them), so memory stays at about one delta per item.
        self.keep_audio: bool = True

    def streaming_item(self, item_id: Any) -> Optional[Item]:
        """The item streamed deltas naming ``item_id`` go to; None for an unknown or duplicated id (or one that is not a str)."""
        if type(item_id) is not str:
            return None
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None
        return self.item_lookup.get(item_id)

    def apply_text(self, field: str, item_id: Any, content_index: Any, delta: str) -> Optional[Item]:
        """Grow the item's two copies of ``field`` by ``delta``; returns the item, or None when it is not a plain delta.

        ``field`` is ``"text"`` or ``"transcript"`` (content part
        ``content_index``'s and ``formatted``'s) or ``"arguments"`` (the
        function call's ``arguments`` and ``formatted["tool"]``'s; no content
        index).  None, with nothing changed: an unknown or duplicated item, no
        content part ``content_index``, or a part, ``formatted`` or tool that is
        not an object.
        """
        item = self.streaming_item(item_id)
        if type(item) is not dict:
            return None
        formatted = item.get("formatted")
        if type(formatted) is not dict:
            return None
        if field == "arguments":
            first: Any = item
            second: Any = formatted.get("tool")
        else:
            content = item.get("content")
            if type(content) is not list or type(content_index) is not int or not 0 <= content_index < len(content):
                return None
            first = content[content_index]
            second = formatted
        if type(first) is not dict or type(second) is not dict:
            return None
        append_text(first, field, delta)
        append_text(second, field, delta)
        return item

    def apply_audio(self, item_id: Any, buffer: Any, start: int) -> Optional[Tuple[Item, Dict[str, bytes]]]:
        """An audio delta already decoded onto ``buffer`` (the item's) from sample ``start`` on.

        Returns ``(item, {"audio": bytes of the new samples})``, or None for an
        unknown or duplicated item.  Without :attr:`keep_audio` the buffer is
        emptied afterwards (its ``offset`` keeps counting the samples).
        """
        item = self.streaming_item(item_id)
        if item is None:
            return None
        pcm = buffer.to_bytes(start)
        if not self.keep_audio and buffer.resizable:
            buffer.discard(len(buffer))
        return item, {"audio": pcm}
