"""MCP servers in a mock session: listing a server's tools when a session adds it.

When ``session.update`` gives a session an MCP tool whose ``server_label`` it
did not have, the service imports that server's tools into the conversation:
an ``mcp_list_tools`` item is added, ``mcp_list_tools.in_progress`` follows,
then ``.completed`` (or ``.failed``) and the final item with its tools.  The
tools come from the script (:meth:`~.script.Script.add_mcp_tool`); a server
the script declares no tools for fails to list.  Calls of those tools are
part of responses (:mod:`.responses`).
"""

from __future__ import annotations

from typing import Any

from .items import Conversation, Item
from .outbox import Outbox
from .script import Script

__all__ = ["list_new_servers", "list_tools", "mcp_labels"]


def mcp_labels(tools: list[dict[str, Any]]) -> list[str]:
    """The server labels of the MCP tools among ``tools``, in order."""
    return [t["server_label"] for t in tools if t.get("type") == "mcp" and isinstance(t.get("server_label"), str)]


async def list_new_servers(
    old: list[dict[str, Any]], new: list[dict[str, Any]], outbox: Outbox, conversation: Conversation, script: Script
) -> None:
    """List the tools of every MCP server in ``new`` that ``old`` did not have."""
    known = set(mcp_labels(old))
    for label in mcp_labels(new):
        if label not in known:
            known.add(label)
            await list_tools(label, outbox, conversation, script)


async def list_tools(label: str, outbox: Outbox, conversation: Conversation, script: Script) -> None:
    """The ``mcp_list_tools`` exchange of server ``label``: item added, in progress, completed or failed, item done."""
    data: dict[str, Any] = {"id": outbox.new_id("mcpl_"), "type": "mcp_list_tools", "server_label": label, "tools": []}
    item = Item(data)
    previous = conversation.insert(item)
    await outbox.send("conversation.item.added", previous_item_id=previous, item=data)
    await outbox.send("mcp_list_tools.in_progress", item_id=item.id)
    tools = script.mcp_tools(label)
    if tools:
        data["tools"] = [tool.listing() for tool in tools]
        await outbox.send("mcp_list_tools.completed", item_id=item.id)
    else:
        await outbox.send("mcp_list_tools.failed", item_id=item.id)
    await outbox.send("conversation.item.done", previous_item_id=previous, item=data)
