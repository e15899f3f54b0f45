"""The responses of one mock session: planning from the script, streaming, cancellation, usage.

Each response streams from its own task.  Cancellation (``response.cancel`` or
a VAD barge-in) closes what was actually streamed, under a per-response lock,
so the closing ``.done`` events never interleave with a delta.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Callable

from websockets.exceptions import ConnectionClosed

from .._redact import package_logger
from ._errors import ClientEventError
from ._text import estimate_tokens, text_deltas
from .dialects import Dialect, ResponseConfig, SessionView
from .items import Conversation, Item, image_summary
from .outbox import Outbox
from .script import Plan
from .settings import SessionSettings
from .synth import audio_chunks, speech_audio

__all__ = ["Response", "Responses"]

log = package_logger("realtime_fast.mock")


class _Stopped(Exception):
    """The response was cancelled (or the session ended): stop streaming."""


class Response:
    """A response being streamed (or finished)."""

    __slots__ = (
        "id", "config", "in_conversation", "items", "task", "finished", "created_sent", "waiter", "lock",
        "current", "part", "part_kind", "text_out", "audio_ms_out", "args_out", "input_tokens",
    )  # fmt: skip

    def __init__(self, response_id: str, config: ResponseConfig) -> None:
        self.id = response_id
        self.config = config
        self.in_conversation = config.conversation != "none"
        self.items: list[Item] = []
        self.task: asyncio.Task[None] | None = None
        self.finished = False
        self.created_sent = False
        self.waiter: asyncio.Future[None] | None = None
        self.lock = asyncio.Lock()
        self.current: Item | None = None
        self.part: dict[str, Any] | None = None
        self.part_kind = "text"
        self.text_out = 0  # characters of text/transcript streamed
        self.audio_ms_out = 0.0
        self.args_out = 0
        self.input_tokens = (0, 0)  # (text, audio)

    def wake(self) -> None:
        """End a pause of this response's stream early (it was cancelled or the session ended)."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _Segment:
    """``async with``: hold the response's lock for a group of frames; stop if it was cancelled."""

    __slots__ = ("resp",)

    def __init__(self, resp: Response) -> None:
        self.resp = resp

    async def __aenter__(self) -> None:
        await self.resp.lock.acquire()
        if self.resp.finished:
            self.resp.lock.release()
            raise _Stopped

    async def __aexit__(self, *exc: object) -> None:
        self.resp.lock.release()


class Responses:
    """Starts, streams and cancels the responses of one session (see the module docstring).

    ``active`` is the response that is writing to the conversation, if any;
    ``audio_produced``, ``used_tokens`` and ``response_count`` are what the
    session's voice check and ``rate_limits.updated`` need.  ``view`` returns
    the session's current configuration.
    """

    def __init__(
        self,
        dialect: Dialect,
        conversation_id: str,
        settings: SessionSettings,
        outbox: Outbox,
        conversation: Conversation,
        view: Callable[[], SessionView],
    ) -> None:
        self._dialect = dialect
        self._conversation_id = conversation_id
        self._settings = settings
        self._outbox = outbox
        self._conversation = conversation
        self._view = view
        self._running: dict[str, Response] = {}
        #: The response writing to the conversation (at most one at a time).
        self.active: Response | None = None
        #: True once any assistant audio was sent (the voice can no longer change).
        self.audio_produced = False
        #: Tokens of every finished response, for ``rate_limits.updated``.
        self.used_tokens = 0
        #: Finished responses, for ``rate_limits.updated``.
        self.response_count = 0
        #: Milliseconds of audio the last finished response sent (its playback delays the idle timeout).
        self.last_audio_ms = 0.0

    # ------------------------------------------------------------------ client events

    async def on_create(self, event: dict[str, Any]) -> None:
        """``response.create`` (refused in a transcription session)."""
        if self._view().transcription_only:
            raise ClientEventError(
                "Responses are not available in a transcription session: it only transcribes the input audio.",
                code="invalid_request_error",
            )
        await self.start(event.get("response"))

    async def on_cancel(self, event: dict[str, Any]) -> None:
        """``response.cancel``: the named response, else the active one."""
        response_id = event.get("response_id")
        resp = self._running.get(response_id) if response_id else self.active
        if resp is None or resp.finished:
            raise ClientEventError("Cancellation failed: no active response found", code="response_cancel_not_active")
        await self.cancel(resp, "client_cancelled")

    # ------------------------------------------------------------------ lifecycle

    async def start(self, params: Any) -> None:
        """Start a response with ``params`` (``response.create``'s ``response``; ``None`` after a VAD turn)."""
        config = self._dialect.response_config(self._view(), params)
        if config.input is not None:
            for i, entry in enumerate(config.input):
                if entry.get("type") == "item_reference":
                    ref = entry.get("id")
                    if not isinstance(ref, str):
                        raise ClientEventError.missing(f"response.input[{i}].id")
                    self._conversation.lookup(ref, f"response.input[{i}].id")
        if config.conversation != "none" and self.active is not None:
            raise ClientEventError(
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        resp = Response(self._outbox.new_id("resp_"), config)
        resp.input_tokens = self._input_tokens(resp)
        self._running[resp.id] = resp
        if resp.in_conversation:
            self.active = resp
        if self._settings.pacing.response_created_delay <= 0:
            await self._send_created(resp)
        resp.task = self._outbox.spawn(self._run(resp))

    async def cancel(self, resp: Response, reason: str) -> None:
        """Stop ``resp`` now: close what was streamed, then ``response.done`` (cancelled)."""
        async with resp.lock:
            if resp.finished:
                return
            if not resp.created_sent:
                await self._send_created(resp)
            await self._close_part(resp)
            await self._close_item(resp, "incomplete")
            await self._finish(resp, "cancelled", {"type": "cancelled", "reason": reason})
        await self._after_done(resp)

    def stop_all(self) -> None:
        """Stop every running response where it stands, sending nothing (the session is ending)."""
        for resp in list(self._running.values()):
            resp.finished = True
            resp.wake()

    # ------------------------------------------------------------------ planning

    def _context(self, resp: Response) -> list[tuple[dict[str, Any], Item | None]]:
        """The items the response "reads": ``response.input`` when given, else the conversation."""
        if resp.config.input is None:
            return [(item.data, item) for item in self._conversation]
        out: list[tuple[dict[str, Any], Item | None]] = []
        for entry in resp.config.input:
            if entry.get("type") == "item_reference":
                item = self._conversation.get(entry.get("id", ""))
                if item is not None:
                    out.append((item.data, item))
            else:
                out.append((entry, None))
        return out

    def _input_tokens(self, resp: Response) -> tuple[int, int]:
        text = estimate_tokens(resp.config.instructions)
        audio = 0
        for data, item in self._context(resp):
            for part in data.get("content") or ():
                text += estimate_tokens(part.get("text") or part.get("transcript") or "")
            if item is not None and item.audio is not None:
                audio += int(item.audio_ms // 100)
            text += estimate_tokens(data.get("arguments") or data.get("output") or "")
        return text, audio

    def _plan(self, resp: Response) -> Plan:
        context = self._context(resp)
        if context and context[-1][0].get("type") == "mcp_approval_response":
            return self._plan_after_approval(context[-1][0])
        user_text: str | None = None
        idle = False
        for data, item in reversed(context):
            if data.get("type") == "message" and data.get("role") == "user":
                texts = []
                for part in data.get("content") or ():
                    if part.get("type") == "input_text":
                        texts.append(part.get("text") or "")
                    elif part.get("type") == "input_audio":
                        heard = item.heard if item is not None else None
                        texts.append(heard or part.get("transcript") or "")
                    elif part.get("type") == "input_image":
                        texts.append(image_summary(part.get("image_url") or ""))
                user_text = " ".join(t for t in texts if t)
                idle = item is not None and item.idle
                break
        tool_output = None
        if context and context[-1][0].get("type") == "function_call_output":
            last = context[-1][0]
            name = next(
                (
                    d.get("name", "")
                    for d, _ in context
                    if d.get("type") == "function_call" and d.get("call_id") == last.get("call_id")
                ),
                "",
            )
            tool_output = (name, str(last.get("output", "")))
        return self._settings.script.plan(
            user_text=user_text,
            tool_output=tool_output,
            tools=resp.config.tools,
            tool_choice=resp.config.tool_choice,
            item_count=len(context),
            idle=idle,
        )

    def _plan_after_approval(self, answer: dict[str, Any]) -> Plan:
        """The response after the user answered an MCP approval request: the call, or a refusal."""
        request = self._conversation.get(answer["approval_request_id"])
        data = request.data if request is not None else {}
        name = data.get("name", "")
        if not answer.get("approve"):
            script = self._settings.script
            return Plan(text=script.mcp_refused_reply.format(name=name, reason=answer.get("reason") or ""))
        return Plan(
            tool_name=name,
            tool_arguments=data.get("arguments", "{}"),
            mcp_server=data.get("server_label"),
            approval_request_id=answer["approval_request_id"],
        )

    # ------------------------------------------------------------------ streaming

    async def _pause(self, resp: Response, seconds: float) -> None:
        if seconds > 0 and not resp.finished:
            loop = asyncio.get_running_loop()
            resp.waiter = fut = loop.create_future()
            handle = loop.call_later(seconds, _resolve, fut)
            try:
                await fut
            finally:
                handle.cancel()
                resp.waiter = None
        if resp.finished:
            raise _Stopped

    def _response_object(
        self, resp: Response, status: str, details: dict[str, Any] | None, usage: dict[str, Any] | None
    ) -> dict[str, Any]:
        return self._dialect.response_object(
            response_id=resp.id,
            status=status,
            status_details=details,
            output=[item.data for item in resp.items] if status != "in_progress" else [],
            usage=usage,
            conversation_id=self._conversation_id if resp.in_conversation else None,
            config=resp.config,
        )

    async def _send_created(self, resp: Response) -> None:
        resp.created_sent = True
        await self._outbox.send("response.created", response=self._response_object(resp, "in_progress", None, None))
        if self._settings.rate_limits == "after_created":
            await self._send_rate_limits()

    async def _run(self, resp: Response) -> None:
        pacing = self._settings.pacing
        try:
            if not resp.created_sent:
                await self._pause(resp, pacing.response_created_delay)
                async with _Segment(resp):
                    await self._send_created(resp)
            await self._pause(resp, pacing.first_delta_delay)
            plan = self._plan(resp)
            status, details = "completed", None
            if plan.mcp_server is not None:
                await self._run_mcp(resp, plan)
                plan = Plan()
            if plan.text is not None:
                text = plan.text
                limit = resp.config.max_output_tokens
                if isinstance(limit, int) and estimate_tokens(text) > limit:
                    text = text[: limit * 4]
                    status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
                await self._stream_message(resp, text, "incomplete" if status == "incomplete" else "completed")
            if plan.tool_name is not None and status == "completed":
                await self._stream_call(resp, plan.tool_name, plan.tool_arguments or "{}")
            async with _Segment(resp):
                await self._finish(resp, status, details)
            await self._after_done(resp)
        except _Stopped:
            return
        except ConnectionClosed:
            resp.finished = True
        except Exception:  # a bug in the mock: end the response as failed rather than hang the client
            log.exception("mock session %s: response %s failed", self._outbox.connection_id, resp.id)
            if not resp.finished and not resp.lock.locked():
                async with resp.lock:
                    if not resp.created_sent:
                        await self._send_created(resp)
                    await self._close_part(resp)
                    await self._close_item(resp, "incomplete")
                    await self._finish(
                        resp,
                        "failed",
                        {
                            "type": "failed",
                            "error": {
                                "type": "server_error",
                                "code": "internal_error",
                                "message": "The mock server failed while generating this response.",
                            },
                        },
                    )
                await self._after_done(resp)
        finally:
            if self.active is resp and resp.finished:
                self.active = None

    async def _open_item(self, resp: Response, data: dict[str, Any]) -> Item:
        item = Item(data)
        resp.items.append(item)
        resp.current = item
        output_index = len(resp.items) - 1
        send = self._outbox.send
        await send("response.output_item.added", response_id=resp.id, output_index=output_index, item=data)
        if resp.in_conversation:
            previous = self._conversation.insert(item)
            await send(self._dialect.item_event_types()[0], previous_item_id=previous, item=data)
        return item

    async def _stream_message(self, resp: Response, text: str, final_status: str) -> None:
        cfg = resp.config
        dialect = self._dialect
        settings = self._settings
        pacing = settings.pacing
        send = self._outbox.send
        async with _Segment(resp):
            item = await self._open_item(
                resp,
                {
                    "id": self._outbox.new_id("item_"),
                    "object": "realtime.item",
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            )
            output_index = len(resp.items) - 1
            common = {"response_id": resp.id, "item_id": item.id, "output_index": output_index, "content_index": 0}
            if cfg.audio_out:
                part = {"type": dialect.item_audio_type, "transcript": ""}
                wire_part = {"type": "audio", "transcript": ""}
                resp.part_kind = "audio"
            else:
                part = {"type": dialect.item_text_type, "text": ""}
                wire_part = {"type": "text", "text": ""}
                resp.part_kind = "text"
            item.data["content"].append(part)
            resp.part = part
            await send("response.content_part.added", **common, part=wire_part)
        if cfg.audio_out:
            ms_per_char = settings.ms_per_char
            chunk_ms = settings.audio_chunk_ms
            item.audio = speech_audio(text, cfg.output_format, ms_per_char)
            item.audio_format = cfg.output_format
            chunks = audio_chunks(text, cfg.output_format, chunk_ms, ms_per_char)
            words = text_deltas(text)
            w = 0
            offset = 0  # characters of transcript already scheduled
            elapsed = 0.0
            for b64, duration in chunks:
                async with _Segment(resp):
                    # transcript runs slightly ahead of the audio, as the service's does
                    while w < len(words) and offset * ms_per_char <= elapsed + duration:
                        delta = words[w]
                        part["transcript"] += delta
                        resp.text_out += len(delta)
                        offset += len(delta)
                        w += 1
                        await send(dialect.transcript_delta, **common, delta=delta)
                    self.audio_produced = True
                    item.audio_ms += duration
                    resp.audio_ms_out += duration
                    elapsed += duration
                    await send(dialect.audio_delta, **common, delta=b64)
                await self._pause(resp, duration / 1000 * pacing.audio_realtime_factor)
            if w < len(words):
                async with _Segment(resp):
                    for delta in words[w:]:
                        part["transcript"] += delta
                        resp.text_out += len(delta)
                        await send(dialect.transcript_delta, **common, delta=delta)
        else:
            for i, delta in enumerate(text_deltas(text)):
                if i:
                    await self._pause(resp, pacing.text_delta_interval)
                async with _Segment(resp):
                    part["text"] += delta
                    resp.text_out += len(delta)
                    await send(dialect.text_delta, **common, delta=delta)
        async with _Segment(resp):
            await self._close_part(resp)
            await self._close_item(resp, final_status)

    async def _stream_call(self, resp: Response, name: str, arguments: str) -> None:
        pacing = self._settings.pacing
        new_id = self._outbox.new_id
        send = self._outbox.send
        call_id = new_id("call_", 16)
        async with _Segment(resp):
            item = await self._open_item(
                resp,
                {
                    "id": new_id("item_"),
                    "object": "realtime.item",
                    "type": "function_call",
                    "status": "in_progress",
                    "name": name,
                    "call_id": call_id,
                    "arguments": "",
                },
            )
        output_index = len(resp.items) - 1
        common = {"response_id": resp.id, "item_id": item.id, "output_index": output_index, "call_id": call_id}
        for i in range(0, len(arguments), 8):
            if i:
                await self._pause(resp, pacing.text_delta_interval)
            async with _Segment(resp):
                delta = arguments[i : i + 8]
                item.data["arguments"] += delta
                resp.args_out += len(delta)
                await send("response.function_call_arguments.delta", **common, delta=delta)
        async with _Segment(resp):
            await send("response.function_call_arguments.done", **common, name=name, arguments=item.data["arguments"])
            await self._close_item(resp, "completed")

    async def _run_mcp(self, resp: Response, plan: Plan) -> None:
        """An MCP call of the plan: an approval request when the tool needs one, else the call and a reply quoting its output."""
        assert plan.mcp_server is not None and plan.tool_name is not None
        arguments = plan.tool_arguments or "{}"
        server = next(
            (t for t in resp.config.tools if t.get("type") == "mcp" and t.get("server_label") == plan.mcp_server), {}
        )
        if plan.approval_request_id is None and _needs_approval(server, plan.tool_name):
            async with _Segment(resp):
                await self._open_item(
                    resp,
                    {
                        "id": self._outbox.new_id("mcpr_"),
                        "type": "mcp_approval_request",
                        "server_label": plan.mcp_server,
                        "name": plan.tool_name,
                        "arguments": arguments,
                    },
                )
                await self._close_item(resp, "completed")
            return
        output, error = await self._stream_mcp_call(resp, plan.mcp_server, plan.tool_name, arguments, plan.approval_request_id)
        if error is None:
            text = self._settings.script.tool_output_reply.format(output=output, name=plan.tool_name)
        else:
            text = f"The tool {plan.tool_name} failed: {error}"
        await self._stream_message(resp, text, "completed")

    async def _stream_mcp_call(
        self, resp: Response, server_label: str, name: str, arguments: str, approval_request_id: str | None
    ) -> tuple[str | None, str | None]:
        """Stream an ``mcp_call`` item: its arguments, the call's progress and its output or error."""
        pacing = self._settings.pacing
        send = self._outbox.send
        data: dict[str, Any] = {
            "id": self._outbox.new_id("mcp_"),
            "type": "mcp_call",
            "server_label": server_label,
            "name": name,
            "arguments": "",
        }
        if approval_request_id is not None:
            data["approval_request_id"] = approval_request_id
        async with _Segment(resp):
            item = await self._open_item(resp, data)
        output_index = len(resp.items) - 1
        common = {"item_id": item.id, "output_index": output_index}
        for i in range(0, len(arguments), 8):
            if i:
                await self._pause(resp, pacing.text_delta_interval)
            async with _Segment(resp):
                delta = arguments[i : i + 8]
                data["arguments"] += delta
                resp.args_out += len(delta)
                await send("response.mcp_call_arguments.delta", response_id=resp.id, **common, delta=delta)
        async with _Segment(resp):
            await send("response.mcp_call_arguments.done", response_id=resp.id, **common, arguments=data["arguments"])
            await send("response.mcp_call.in_progress", **common)
        await self._pause(resp, pacing.text_delta_interval)
        tool = self._settings.script.mcp_tool(server_label, name)
        if tool is None:
            output, error = None, f"Tool '{name}' not found on MCP server '{server_label}'."
        else:
            output, error = tool.run(data["arguments"])
        async with _Segment(resp):
            if error is None:
                data["output"] = output
                await send("response.mcp_call.completed", **common)
            else:
                data["error"] = {"type": "tool_execution_error", "message": error}
                await send("response.mcp_call.failed", **common)
            await self._close_item(resp, "completed")
        return output, error

    # ------------------------------------------------------------------ closing

    async def _close_part(self, resp: Response) -> None:
        """Close the open content part with what was streamed (caller holds the response lock)."""
        part = resp.part
        item = resp.current
        if part is None or item is None:
            return
        resp.part = None
        common = {"response_id": resp.id, "item_id": item.id, "output_index": len(resp.items) - 1, "content_index": 0}
        dialect = self._dialect
        send = self._outbox.send
        if resp.part_kind == "audio":
            await send(dialect.audio_done, **common)
            await send(dialect.transcript_done, **common, transcript=part["transcript"])
            wire = {"type": "audio", "transcript": part["transcript"]}
        else:
            await send(dialect.text_done, **common, text=part["text"])
            wire = {"type": "text", "text": part["text"]}
        await send("response.content_part.done", **common, part=wire)

    async def _close_item(self, resp: Response, status: str) -> None:
        """Finish the open output item with ``status`` (caller holds the response lock)."""
        item = resp.current
        if item is None:
            return
        resp.current = None
        if "status" in item.data:  # MCP items carry none
            item.data["status"] = status
        send = self._outbox.send
        if resp.in_conversation and not self._dialect.beta:
            await send("conversation.item.done", previous_item_id=self._conversation.previous_of(item), item=item.data)
        output_index = resp.items.index(item)
        await send("response.output_item.done", response_id=resp.id, output_index=output_index, item=item.data)

    def _usage(self, resp: Response) -> dict[str, Any]:
        text_in, audio_in = resp.input_tokens
        text_out = math.ceil(resp.text_out / 4) + math.ceil(resp.args_out / 4)
        audio_out = int(resp.audio_ms_out // 50)
        total_in = text_in + audio_in
        total_out = text_out + audio_out
        usage: dict[str, Any] = {
            "total_tokens": total_in + total_out,
            "input_tokens": total_in,
            "output_tokens": total_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }
        if self._dialect.beta:  # not in the beta usage object
            del usage["input_token_details"]["cached_tokens_details"]
        return usage

    async def _finish(self, resp: Response, status: str, details: dict[str, Any] | None) -> None:
        """Send ``response.done`` (caller holds the response lock)."""
        resp.finished = True
        resp.wake()
        self._running.pop(resp.id, None)
        if self.active is resp:
            self.active = None
        self.last_audio_ms = resp.audio_ms_out
        usage = self._usage(resp)
        self.used_tokens += usage["total_tokens"]
        self.response_count += 1
        await self._outbox.send("response.done", response=self._response_object(resp, status, details, usage))

    async def _after_done(self, resp: Response) -> None:  # noqa: ARG002
        if self._settings.rate_limits == "after_done":
            delay = self._settings.pacing.rate_limits_delay
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send_rate_limits()

    async def _send_rate_limits(self) -> None:
        await self._outbox.send(
            "rate_limits.updated", rate_limits=self._dialect.rate_limits(self.used_tokens, self.response_count)
        )


def _needs_approval(server: dict[str, Any], name: str) -> bool:
    """Whether an MCP server's tool needs the user's approval (``require_approval``; default: always)."""
    rule = server.get("require_approval", "always")
    if rule == "never":
        return False
    if isinstance(rule, dict):
        never = rule.get("never") or {}
        if name in (never.get("tool_names") or ()):
            return False
        always = rule.get("always") or {}
        return not always or name in (always.get("tool_names") or ())
    return True


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
