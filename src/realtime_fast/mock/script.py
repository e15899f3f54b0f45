"""What the mock "model" says: a small, deterministic script.

The script decides the content of every response from the conversation so far,
in this order:

1. After a ``function_call_output`` item, the reply is :attr:`Script.tool_output_reply`
   (``"The result is: {output}"``) unless a queued reply is waiting.
2. A reply queued with :meth:`Script.reply` (one per response, first in first out).
3. The first rule (:meth:`Script.add_rule`, :meth:`Script.add_tool_call`) whose
   ``when`` matches the latest user text -- the text of the last user message, or
   the transcript of the last user audio.  A tool-call rule only fires when a
   function tool of that name is configured (session or ``response.create``) and
   ``tool_choice`` is not ``"none"``, as with a real model.
4. :attr:`Script.default_reply` (``'You said: "{text}"'``; ``{item_count}`` is the
   number of items the response reads), or :attr:`Script.greeting` when the user has
   said nothing yet, or :attr:`Script.idle_reply` after an idle timeout.

A user image counts as ``[image/png, 1234 bytes]`` in the user text.

MCP servers: :meth:`Script.add_mcp_tool` declares a tool of a remote MCP server
(the mock lists it when a session gets an MCP tool with that ``server_label``, and
answers its calls with the given output or error); :meth:`Script.add_mcp_call`
makes the "model" call it when the user text matches, asking for approval first
unless the session's MCP tool says ``require_approval: "never"`` for it.  A server
label with no tools declared fails to list (``mcp_list_tools.failed``).

User audio has no real words, so its transcript comes from the script too: the
text given to :meth:`Script.set_transcript` for the next user audio turn, else a
description of its length (``"[2.40 s of audio]"``).  ``set_transcript(...,
fail=True)`` makes that turn's input transcription fail instead.

One script is shared by every connection of a server; it is safe to change it
from another thread while the server runs.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Pattern, Union

__all__ = ["Plan", "Rule", "Script"]

Matcher = Union[str, Pattern[str], Callable[[str], bool]]
Reply = Union[str, Callable[[str], str]]


def _json_arguments(arguments: dict[str, Any] | str | None) -> str:
    """A call's arguments as the JSON text that is streamed: a string as given, a dict (None: ``{}``) dumped."""
    return arguments if isinstance(arguments, str) else json.dumps({} if arguments is None else arguments)


@dataclass
class Rule:
    """One scripted behaviour: when the user text matches ``when``, reply or call a tool.

    ``when`` is a case-insensitive substring, a compiled regular expression (searched)
    or a callable taking the user text.  Exactly one of ``reply`` and ``tool`` is set.
    """

    when: Matcher
    reply: Reply | None = None
    tool: str | None = None
    arguments: str = "{}"
    say: str | None = None
    once: bool = False
    hits: int = field(default=0, compare=False)
    #: For an MCP call rule: the server label of the tool (``tool``).
    mcp_server: str | None = None

    def matches(self, text: str) -> bool:
        """True when ``text`` (the latest user text) triggers this rule."""
        if isinstance(self.when, str):
            return " ".join(self.when.lower().split()) in " ".join(text.lower().split())
        if isinstance(self.when, re.Pattern):
            return self.when.search(text) is not None
        return bool(self.when(text))


@dataclass
class Plan:
    """The content of one response: an assistant message, a function call, or both (message first)."""

    text: str | None = None
    tool_name: str | None = None
    tool_arguments: str | None = None
    #: The MCP server of ``tool_name`` when the call is an MCP call (else a function call).
    mcp_server: str | None = None
    #: The approval request an MCP call answers (the user approved it), if any.
    approval_request_id: str | None = None


@dataclass
class McpTool:
    """A tool of a scripted MCP server: what the mock lists and what a call of it returns.

    ``output`` is the call's output (a string, or a callable taking the arguments
    as a dict); ``error``, when set, makes every call fail with that message.
    """

    server_label: str
    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    output: str | Callable[[dict[str, Any]], str] = ""
    error: str | None = None

    def listing(self) -> dict[str, Any]:
        """The tool as ``mcp_list_tools`` lists it."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def run(self, arguments: str) -> tuple[str | None, str | None]:
        """``(output, error)`` of a call with ``arguments`` (JSON text)."""
        if self.error is not None:
            return None, self.error
        if callable(self.output):
            try:
                args = json.loads(arguments or "{}")
            except ValueError:
                args = {}
            return str(self.output(args if isinstance(args, dict) else {})), None
        return self.output, None


class Script:
    """Deterministic replies, tool-call rules and user-audio transcripts (see the module docstring)."""

    def __init__(self) -> None:
        #: Template of the reply when nothing else applies; ``{text}`` is the latest user text.
        self.default_reply: str = 'You said: "{text}"'
        #: Reply when the conversation has no user text at all.
        self.greeting: str = "Hello! How can I help you today?"
        #: Reply after a function output; ``{output}`` is the output, ``{name}`` the function name.
        self.tool_output_reply: str = "The result is: {output}"
        #: Transcript of user audio nobody registered a transcript for; ``{seconds}`` is its length in s.
        self.audio_description: str = "[{seconds:.2f} s of audio]"
        #: When true, input transcriptions arrive *before* their user item (the reference
        #: client's queued-transcript case); :meth:`set_transcript` can override it per turn.
        self.transcripts_before_items: bool = False
        #: Reply after server VAD's idle timeout committed a silent user turn.
        self.idle_reply: str = "Are you still there?"
        #: Reply when the user refused an MCP call; ``{name}`` is the tool, ``{reason}`` the user's reason.
        self.mcp_refused_reply: str = "I did not run {name}, as you asked."
        self._rules: list[Rule] = []
        self._mcp_tools: dict[tuple[str, str], McpTool] = {}
        self._replies: deque[str] = deque()
        self._transcripts: deque[tuple[str, bool | None, bool]] = deque()
        self._lock = threading.Lock()

    # -- public scripting API ---------------------------------------------------

    def reply(self, text: str) -> None:
        """Queue ``text`` as the content of the next response (one response per call, in order)."""
        if not isinstance(text, str):
            raise TypeError(f"reply text must be a str, got {type(text).__name__}; pass the words the assistant says.")
        self._replies.append(text)

    def add_rule(self, when: Matcher, reply: Reply, *, once: bool = False) -> Rule:
        """Answer ``reply`` whenever the latest user text matches ``when``.

        ``reply`` is a string or a callable taking the user text.  With ``once=True``
        the rule is removed after it fired.  Rules are tried in the order added.
        """
        return self._add(Rule(when=when, reply=reply, once=once))

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def add_tool_call(
        self,
        when: Matcher,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        say: str | None = None,
        once: bool = False,
    ) -> Rule:
        """Answer with a ``function_call`` of ``name`` whenever the latest user text matches ``when``.

        ``arguments`` is a JSON-serialisable dict (or a JSON string) streamed as the call's
        arguments; ``say`` adds an assistant message before the call (output_index 0).
        The rule only fires when a function tool called ``name`` is configured.
        """
        if not name or not isinstance(name, str):
            raise ValueError("add_tool_call needs the function name as a non-empty str.")
        return self._add(Rule(when=when, tool=name, arguments=_json_arguments(arguments), say=say, once=once))

    def add_mcp_tool(
        self,
        server_label: str,
        name: str,
        output: str | Callable[[dict[str, Any]], str] = "",
        *,
        description: str = "",
        input_schema: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> McpTool:
        """Declare tool ``name`` of the MCP server ``server_label``: listed when a session adds that server.

        ``output`` is what a call returns (a string, or a callable taking the
        arguments dict); with ``error`` every call fails with that message
        (``response.mcp_call.failed``).  Declaring a name again replaces it.
        """
        if not server_label or not name:
            raise ValueError("add_mcp_tool needs a server label and a tool name.")
        tool = McpTool(server_label, name, description, input_schema or {"type": "object", "properties": {}}, output, error)
        with self._lock:
            self._mcp_tools[(server_label, name)] = tool
        return tool

    def mcp_tools(self, server_label: str) -> list[McpTool]:
        """The tools declared for ``server_label``, in the order declared."""
        with self._lock:
            return [tool for (label, _), tool in self._mcp_tools.items() if label == server_label]

    def mcp_tool(self, server_label: str, name: str) -> McpTool | None:
        """The declared tool ``name`` of ``server_label``, or None."""
        return self._mcp_tools.get((server_label, name))

    def add_mcp_call(
        self,
        when: Matcher,
        server_label: str,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        once: bool = False,
    ) -> Rule:
        """Answer with a call of MCP tool ``name`` on ``server_label`` whenever the latest user text matches ``when``.

        The rule only fires when the response's tools include an MCP tool with
        that ``server_label`` (whose ``allowed_tools``, if any, name the tool).
        The call asks for approval first unless that tool's
        ``require_approval`` is ``"never"`` (or names the tool under
        ``never``); once approved, the call runs and the reply quotes its output
        (:attr:`tool_output_reply`).
        """
        if not server_label or not name:
            raise ValueError("add_mcp_call needs a server label and a tool name.")
        return self._add(Rule(when=when, tool=name, arguments=_json_arguments(arguments), once=once, mcp_server=server_label))

    def remove_rule(self, rule: Rule) -> None:
        """Forget ``rule`` (as returned by :meth:`add_rule` / :meth:`add_tool_call`)."""
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def set_transcript(self, text: str, *, before_item: bool | None = None, fail: bool = False) -> None:
        """Use ``text`` as what the user said in the next user audio turn.

        A user audio turn is a commit (manual or by server VAD) or a user ``input_audio``
        item created without a transcript.  Transcripts queue up, one per turn.

        ``before_item=True`` makes that turn's transcription events arrive before the
        user item is created (``None``: follow :attr:`transcripts_before_items`).
        ``fail=True`` makes that turn's input transcription fail: one
        ``conversation.item.input_audio_transcription.failed`` event (error code
        ``audio_unintelligible``) instead of the deltas and ``.completed``, and the
        item's transcript stays null; the "model" still hears ``text`` and replies to it.
        """
        if not isinstance(text, str):
            raise TypeError(f"transcript must be a str, got {type(text).__name__}.")
        self._transcripts.append((text, before_item, bool(fail)))

    def clear(self) -> None:
        """Drop every rule, queued reply and queued transcript (templates are kept)."""
        with self._lock:
            self._rules = []
            self._mcp_tools = {}
        self._replies.clear()
        self._transcripts.clear()

    @property
    def rules(self) -> list[Rule]:
        """The current rules, in matching order (a copy)."""
        return list(self._rules)

    # -- used by the session ------------------------------------------------------

    def next_transcript(self, duration_ms: float) -> tuple[str, bool]:
        """The transcript of the next user audio turn of ``duration_ms`` ms, and whether it goes first."""
        text, before, _ = self.next_turn(duration_ms)
        return text, before

    def next_turn(self, duration_ms: float) -> tuple[str, bool, bool]:
        """Like :meth:`next_transcript`, plus whether that turn's transcription fails."""
        try:
            text, before, fail = self._transcripts.popleft()
        except IndexError:
            return self.audio_description.format(seconds=duration_ms / 1000.0), self.transcripts_before_items, False
        return text, self.transcripts_before_items if before is None else before, fail

    def plan(
        self,
        *,
        user_text: str | None,
        tool_output: tuple[str, str] | None,
        tools: list[dict[str, Any]],
        tool_choice: Any,
        item_count: int = 0,
        idle: bool = False,
    ) -> Plan:
        """Decide the next response.

        ``tool_output`` is ``(function name, output)`` when the last input item is a
        function output; ``tools`` and ``tool_choice`` are the response's effective ones;
        ``item_count`` is the number of items the response reads; ``idle``: the last user
        turn is the silence an idle timeout committed.
        """
        try:
            queued: str | None = self._replies.popleft()
        except IndexError:
            queued = None
        if tool_output is not None:
            if queued is not None:
                return Plan(text=queued)
            name, output = tool_output
            return Plan(text=self.tool_output_reply.format(output=output, name=name))
        if queued is not None:
            return Plan(text=queued)
        if idle:
            return Plan(text=self.idle_reply)
        text = user_text or ""
        available = [t.get("name") for t in tools if t.get("type", "function") == "function" and t.get("name")]
        mcp_servers = {t.get("server_label"): t for t in tools if t.get("type") == "mcp"}
        forced = None
        if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
            forced = tool_choice.get("name") or (tool_choice.get("function") or {}).get("name")
        elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
            forced = tool_choice  # beta sessions name the forced function in a string
        with self._lock:
            rules = list(self._rules)
        for rule in rules:
            if rule.mcp_server is not None:
                server = mcp_servers.get(rule.mcp_server)
                allowed = server.get("allowed_tools") if server is not None else None
                if isinstance(allowed, dict):  # {"tool_names": [...], "read_only": ...}
                    allowed = allowed.get("tool_names")
                if server is None or tool_choice == "none" or forced or (isinstance(allowed, list) and rule.tool not in allowed):
                    continue
                if rule.matches(text):
                    self._fired(rule)
                    return Plan(tool_name=rule.tool, tool_arguments=rule.arguments, mcp_server=rule.mcp_server)
                continue
            if rule.tool is not None:
                if tool_choice == "none" or rule.tool not in available or (forced and forced != rule.tool):
                    continue
                if rule.matches(text):
                    self._fired(rule)
                    return Plan(text=rule.say, tool_name=rule.tool, tool_arguments=rule.arguments)
            elif forced is None and tool_choice != "required" and rule.matches(text):
                self._fired(rule)
                reply = rule.reply(text) if callable(rule.reply) else rule.reply
                return Plan(text=str(reply))
        if forced is not None and forced in available:
            return Plan(tool_name=forced, tool_arguments="{}")
        if tool_choice == "required" and available:
            return Plan(tool_name=available[0], tool_arguments="{}")
        if not text:
            return Plan(text=self.greeting)
        return Plan(text=self.default_reply.format(text=text, item_count=item_count))

    def _fired(self, rule: Rule) -> None:
        rule.hits += 1
        if rule.once:
            self.remove_rule(rule)
