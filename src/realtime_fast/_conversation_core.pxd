# C-level interface of realtime_fast._conversation_core, for other compiled modules
# (``from realtime_fast._conversation_core cimport ConversationCore``): the client's
# compiled receive path applies streamed deltas through it.

cdef class ConversationCore:
    cdef public dict item_lookup
    cdef public dict audio_buffers
    cdef public set duplicate_ids
    cdef public bint keep_audio

    cdef object streaming_item_c(self, object item_id)
    # streaming_item(): the item, or None.

    cdef object apply_text_c(self, str field, object item_id, long long content_index, str delta)
    # apply_text(): the item, or None (nothing changed).  content_index -1: not a usable int.

    cdef object apply_audio_c(self, object item_id, object buffer, Py_ssize_t start)
    # apply_audio(): (item, {"audio": bytes}), or None.
