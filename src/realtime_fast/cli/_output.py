"""Terminal output for the CLI: colour, a streamed transcript, a live status line, tables.

Two modes, chosen from the stream: on a terminal the output is coloured and a
status line (audio received, real-time factor) is redrawn in place below the
streaming transcript; anywhere else (a pipe, a file, a CI log) the same text is
written plainly, line by line, with no control characters at all.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import IO, Sequence

_STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


def _enable_windows_vt(stream: IO[str]) -> bool:
    """Turn on ANSI escape handling in a Windows console; False when that is impossible."""
    if sys.platform != "win32":
        return True
    try:  # pragma: no cover - Windows only
        import ctypes
        import msvcrt

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = msvcrt.get_osfhandle(stream.fileno())
        mode = ctypes.c_uint32()
        if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return False
        return bool(kernel32.SetConsoleMode(handle, mode.value | 0x0004))  # ENABLE_VIRTUAL_TERMINAL_PROCESSING
    except Exception:  # pragma: no cover
        return False


def stream_is_terminal(stream: IO[str]) -> bool:
    """True when ``stream`` is an interactive terminal that understands ANSI escapes."""
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return _enable_windows_vt(stream)


class Console:
    """Writes the CLI's human-readable output to one text stream.

    ``print``/``line`` write whole lines; ``stream_begin``/``stream``/``stream_end``
    write one line piece by piece as deltas arrive (word-wrapped with a hanging
    indent on a terminal); ``status`` sets the live status line, shown only on
    a terminal.  Nothing but plain text and newlines is written when the stream
    is not a terminal.
    """

    def __init__(self, stream: IO[str] | None = None, *, terminal: bool | None = None, color: bool | None = None) -> None:
        self.out: IO[str] = stream if stream is not None else sys.stdout
        self.terminal = stream_is_terminal(self.out) if terminal is None else terminal
        if color is None:
            color = self.terminal and "NO_COLOR" not in os.environ
        self.color = color and self.terminal
        self._status: str = ""  # text of the status line currently on screen ("" = none)
        self._streaming = False
        self._prefix_width = 0
        self._head = ""  # styled label (first row) or indentation (later rows) of the streamed row
        self._text = ""  # text of the streamed row after its head
        self._last_status_draw = 0.0
        self._at_prompt = False

    # ------------------------------------------------------------------ basics

    def style(self, text: str, *styles: str) -> str:
        """``text`` wrapped in the ANSI codes of ``styles`` (``"bold"``, ``"dim"``, ``"cyan"``...) when colour is on."""
        if not self.color or not styles:
            return text
        codes = ";".join(_STYLES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def _width(self) -> int:
        """Columns of the terminal this console writes to (its own size first: COLUMNS may be stale)."""
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = shutil.get_terminal_size((100, 24)).columns
        return max(20, columns)

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (BrokenPipeError, ValueError):  # reader went away or the stream was closed
            pass

    def _erase_live(self) -> str:
        """Escapes that take the cursor to the start of the live region and clear it."""
        if not self.terminal:
            return ""
        seq = ""
        if self._status:
            seq += "\r\x1b[K"
            if self._streaming:
                seq += "\x1b[A"
        return seq + "\r\x1b[K" if (self._status or self._streaming) else seq

    def _draw_live(self) -> str:
        seq = self._head + self._text if self._streaming else ""
        if self._status:
            seq += ("\n" if self._streaming else "") + self._status
        return seq

    def line(self, text: str = "", *styles: str) -> None:
        """Write one whole line (ends a streamed line first)."""
        if self._streaming:
            self.stream_end()
        if self.terminal:
            self._write(self._erase_live() + self.style(text, *styles) + "\n" + self._draw_live())
        else:
            self._write(text + "\n")

    def prompt(self, text: str) -> None:
        """Write ``text`` with no newline (an input prompt); call :meth:`prompt_answered` once a line was read."""
        if self._streaming:
            self.stream_end()
        self.clear_status()
        self._write(text)
        self._at_prompt = True

    def prompt_answered(self) -> None:
        """The user ended the prompt's line (pressed Enter): the cursor is at the start of a line again."""
        self._at_prompt = False

    def error(self, text: str) -> None:
        """Write one line to standard error (plain text; red on a terminal)."""
        self.clear_status()
        if self._streaming:
            self.stream_end()
        if self._at_prompt:  # the message would follow the prompt (and a ^C) on the same line
            self._write("\n")
            self._at_prompt = False
        err = sys.stderr
        msg = f"\x1b[31m{text}\x1b[0m" if self.color and stream_is_terminal(err) else text
        try:
            err.write(msg + "\n")
            err.flush()
        except (BrokenPipeError, ValueError):
            pass

    # --------------------------------------------------------- streamed lines

    def stream_begin(self, label: str, *styles: str) -> None:
        """Start a streamed line headed by ``label`` (e.g. ``"assistant"``)."""
        if self._streaming:
            self.stream_end()
        self._prefix_width = len(label) + 2 if label else 0
        self._head = self.style(label + ":", *styles) + " " if label else ""
        self._text = ""
        if self.terminal:
            out = self._erase_live()
            self._streaming = True
            self._write(out + self._draw_live())
        else:
            self._streaming = True
            self._write(f"{label}: " if label else "")

    def stream(self, delta: str) -> None:
        """Append ``delta`` to the streamed line (starts one with no label if none is open)."""
        if not delta:
            return
        if not self._streaming:
            self.stream_begin("")
        if not self.terminal:
            self._write(delta.replace("\r", ""))
            return
        width = self._width() - 1 - self._prefix_width
        committed: list[str] = []
        indent = " " * self._prefix_width
        for piece in _split_keep_spaces(delta):
            if piece == "\n":
                committed.append(self._head + self._text)
                self._head, self._text = indent, ""
            elif piece == " ":
                if self._text and not self._text.endswith(" "):
                    self._text += " "
            elif len(self._text) + len(piece) <= width:
                self._text += piece
            else:
                # wrap before the word this piece belongs to (a word may arrive split over deltas)
                cut = self._text.rfind(" ") if not self._text.endswith(" ") else len(self._text) - 1
                if cut <= 0:
                    committed.append(self._head + self._text)
                    carry = ""
                else:
                    committed.append(self._head + self._text[:cut])
                    carry = self._text[cut + 1 :]
                self._head, self._text = indent, carry + piece
        out = self._erase_live()
        if committed:
            out += "\n".join(c.rstrip() for c in committed) + "\n"
        self._write(out + self._draw_live())

    def stream_end(self) -> None:
        """Finish the streamed line."""
        if not self._streaming:
            return
        if self.terminal:
            out = self._erase_live() + (self._head + self._text).rstrip() + "\n"
            self._streaming = False
            self._write(out + self._draw_live())
        else:
            self._streaming = False
            self._write("\n")
        self._head = self._text = ""

    # ------------------------------------------------------------ status line

    def status(self, text: str, *, min_interval: float = 0.1) -> None:
        """Show ``text`` on the live status line (terminal only; redrawn at most every ``min_interval`` s)."""
        if not self.terminal:
            return
        now = time.monotonic()
        if self._status and now - self._last_status_draw < min_interval:
            return
        self._last_status_draw = now
        text = text[: self._width() - 1]
        out = self._erase_live()
        self._status = self.style(text, "dim")
        self._write(out + self._draw_live())

    def clear_status(self) -> None:
        """Remove the status line from the screen."""
        if not self.terminal or not self._status:
            return
        out = self._erase_live()
        self._status = ""
        self._write(out + self._draw_live())

    # ----------------------------------------------------------------- tables

    def table(self, rows: Sequence[tuple[str, str]], title: str = "") -> None:
        """Print two-column ``rows`` (label, value) as an aligned table with an optional ``title``."""
        if not rows:
            return
        label_w = max(len(r[0]) for r in rows)
        value_w = max(len(r[1]) for r in rows)
        rule = "-" * (label_w + value_w + 5)
        if title:
            self.line(title, "bold")
        self.line(rule, "dim")
        for label, value in rows:
            self.line(f"  {label.ljust(label_w)}   {self.style(value.rjust(value_w), 'bold')}" if self.color
                      else f"  {label.ljust(label_w)}   {value.rjust(value_w)}")
        self.line(rule, "dim")


def _split_keep_spaces(text: str) -> list[str]:
    """Split ``text`` into words, single whitespace runs and newlines, keeping everything."""
    pieces: list[str] = []
    word = ""
    for ch in text.replace("\r", ""):
        if ch == "\n":
            if word:
                pieces.append(word)
                word = ""
            pieces.append("\n")
        elif ch.isspace():
            if word:
                pieces.append(word)
                word = ""
            pieces.append(" ")
        else:
            word += ch
    if word:
        pieces.append(word)
    return pieces


def format_seconds(seconds: float | None, digits: int = 2) -> str:
    """``seconds`` as ``"1.23 s"``, or ``"-"`` when unknown."""
    return "-" if seconds is None else f"{seconds:.{digits}f} s"


def format_ms(seconds: float | None) -> str:
    """``seconds`` as whole milliseconds (``"123 ms"``), or ``"-"`` when unknown."""
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"
