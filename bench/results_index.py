"""What bench/results/ holds: one line per result file, and a check that each follows the naming scheme and is cited.

Usage::

    python bench/results_index.py                 # the table; exit 1 when a file breaks a rule below
    python bench/results_index.py --name RUN.json # the path RUN.json should take in bench/results/

The scheme (``bench/results/README.md``), every part read from the file's own
content where the file has it::

    load_<client>_<transport>_<loop>_<sessions:05d>[_<ms>ms][_h<history>][_noaudio][_ulaw|_alaw][_tls][_noafn]_<YYYYMMDD>_r<N>.json
    sendonly_...                 the same, for ``--send-only`` runs
    e2e_<burst|paced|mock>_<YYYYMMDD>_r<N>.json
    soak_<minutes>min_x<speed>_h<history>_<YYYYMMDD>_r<N>.json
    resampler_<YYYYMMDD>_r<N>.json  bench/resampler_choice.py: our resampler against soxr
    relay_<sessions:05d>_<relays>[_w<workers>][_p<probes>]_<YYYYMMDD>_r<N>.json  bench/relay/relay_load.py

``_<ms>ms`` appears when appends are not 20 ms, ``_h<history>`` when
``--history`` is not 20 (``_h0``: unbounded), ``_noaudio`` for
``--no-keep-item-audio``, ``_ulaw`` / ``_alaw`` for G.711 sessions
(``--format g711_ulaw`` / ``g711_alaw``), ``_tls`` for runs over ``wss://``,
``_noafn`` for picows without aiofastnet; the date is the run's
(``time`` in load results; the day the file was made otherwise) and ``r<N>``
counts the runs of the same name that day, from 0.

The check fails (exit status 1) on a file whose name is off the scheme or
disagrees with its content, on a file no doc cites, and on a citation that
matches no file. A citation is a result file name, or a glob of them
(``*``, ``?``, ``[01]``, ``{a,b}``), anywhere in ``README.md`` or ``docs/*.md``.
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import math
import os
import re
import statistics
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

_DATE_REP = r"_(?P<date>\d{8})_r(?P<rep>\d+)\.json"
SCHEMES = {
    "load": re.compile(
        r"^(?P<kind>load|sendonly)_(?P<client>[a-z][a-z0-9_-]*?)_(?P<transport>picows|websockets)_(?P<loop>asyncio|uvloop)"
        r"_(?P<sessions>\d{5})(?:_(?P<ms>\d+)ms)?(?:_h(?P<history>\d+))?(?P<noaudio>_noaudio)?(?P<codec>_ulaw|_alaw)?(?P<tls>_tls)?(?P<noafn>_noafn)?"
        + _DATE_REP
        + "$"
    ),
    "e2e": re.compile(r"^e2e_(?P<stream>burst|paced|mock)" + _DATE_REP + "$"),
    "soak": re.compile(r"^soak_(?P<minutes>[\d.]+)min_x(?P<speed>[\d.]+)_h(?P<history>\d+)" + _DATE_REP + "$"),
    "resampler": re.compile(r"^resampler" + _DATE_REP + "$"),
    "relay": re.compile(r"^relay_(?P<sessions>\d{5})_(?P<relays>[a-z-]+)(?:_w(?P<workers>\d+))?(?:_p(?P<probes>\d+))?" + _DATE_REP + "$"),
}
#: A result file name or a glob of them, as the docs cite them (with or without ``bench/results/``).
CITATION = re.compile(r"(?<![\w-])((?:load|sendonly|e2e|soak|resampler|relay)_[A-Za-z0-9_.*?{},[\]-]*\.json)")


def kind_of(result: Dict[str, Any]) -> str:
    """``load``, ``e2e``, ``soak`` or ``resampler``, from the fields a result has."""
    if "sessions" in result and "loop" in result:
        return "load"
    if "loops" in result and "pairs" in result:
        return "e2e"
    if "session_minutes" in result:
        return "soak"
    if "rows" in result and all("us_per_frame_24k_8k" in row for row in result["rows"]):
        return "resampler"
    if "runs" in result and "relay_load.py" in str(result.get("command", "")):
        return "relay"
    raise ValueError(
        "not a result of bench load, bench soak, transport_e2e.py or resampler_choice.py: "
        "no sessions, loops, session_minutes or resampler rows"
    )


def stem(result: Dict[str, Any]) -> str:
    """The file name a result should have, without ``_<YYYYMMDD>_r<N>.json``."""
    kind = kind_of(result)
    if kind == "load":
        append_ms = result.get("append_ms", 20)
        history = result.get("history_items", 20) or 0  # None: unbounded, as --history 0
        codec = {"g711_ulaw": "_ulaw", "g711_alaw": "_alaw"}.get(result.get("audio_format", "pcm16"), "")
        return (
            f"{'sendonly' if result.get('send_only') else 'load'}_{result.get('client', 'realtime_fast')}_{result['transport']}"
            f"_{result['loop']}_{result['sessions']:05d}{'' if append_ms == 20 else f'_{append_ms}ms'}"
            f"{'' if history == 20 else f'_h{history}'}{'_noaudio' if result.get('keep_item_audio') is False else ''}{codec}"
            f"{'_tls' if result.get('tls') else ''}{'_noafn' if result.get('client_use_aiofastnet') is False else ''}"
        )
    if kind == "e2e":
        stream = "mock" if result["source"] == "mock" else ("paced" if result["pace_ms"] else "burst")
        return f"e2e_{stream}"
    if kind == "resampler":
        return "resampler"
    if kind == "relay":
        options = _relay_options(result["command"])
        workers = f"_w{options['--workers']}" if "--workers" in options else ""
        probes = f"_p{options['--probes']}" if int(options.get("--probes", 0)) else ""
        relays = options.get("--relays", "direct,ours,plain").replace(",", "-")
        return f"relay_{int(options['--sessions']):05d}_{relays}{workers}{probes}"
    return f"soak_{result['session_minutes']:g}min_x{result['speed']:g}_h{result['history_items']}"


def _relay_options(command: str) -> Dict[str, str]:
    """``--option value`` pairs of a relay_load.py command line."""
    words = command.split()
    return {w: v for w, v in zip(words, words[1:] + [""]) if w.startswith("--")}


def run_date(result: Dict[str, Any]) -> Optional[str]:
    """``YYYYMMDD`` of the run, from its ``time`` field (load results have one); None without it."""
    stamp = result.get("time")
    return stamp[:10].replace("-", "") if isinstance(stamp, str) and re.match(r"\d{4}-\d\d-\d\d", stamp) else None


def name_for(result: Dict[str, Any], folder: str = RESULTS, date: Optional[str] = None) -> str:
    """The scheme's file name for ``result`` in ``folder``: the run's date (or ``date``, or today) and the first free ``r<N>``."""
    date = run_date(result) or date or time.strftime("%Y%m%d", time.gmtime())
    base = f"{stem(result)}_{date}_r"
    rep = 0
    while os.path.exists(os.path.join(folder, f"{base}{rep}.json")):
        rep += 1
    return f"{base}{rep}.json"


def _expand(pattern: str) -> List[str]:
    """``{a,b}`` alternatives of a glob, expanded (no nesting)."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    return [p for alt in match.group(1).split(",") for p in _expand(pattern[: match.start()] + alt + pattern[match.end() :])]


def citations(root: Optional[str] = None) -> Dict[str, List[str]]:
    """Every result file name or glob cited in README.md and docs/*.md (of ``root``, default the checkout) -> the docs that cite it."""
    root = root or ROOT
    cited: Dict[str, List[str]] = {}
    for path in [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md"))):
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for pattern in CITATION.findall(text):
            cited.setdefault(pattern, []).append(os.path.relpath(path, root))
    return cited


def problems_of(name: str, result: Optional[Dict[str, Any]]) -> List[str]:
    """What is wrong with one file's name (against the scheme and its content)."""
    scheme = next((k for k, rx in SCHEMES.items() if rx.match(name)), None)
    if scheme is None:
        return ["name off the scheme (see bench/results/README.md)"]
    if result is None:
        return ["not a JSON object"]
    try:
        expected = stem(result)
    except (KeyError, ValueError, TypeError) as exc:
        return [f"content not recognised ({exc})"]
    found = []
    if not name.startswith(expected + "_"):
        found.append(f"content says {expected}_...")
    date = run_date(result)
    if date and SCHEMES[scheme].match(name).group("date") != date:  # type: ignore[union-attr]
        found.append(f"run dated {date}")
    return found


def _median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


def describe(result: Dict[str, Any]) -> Tuple[str, str]:
    """(what the run is, its key numbers) for the table."""
    kind = kind_of(result)
    if kind == "load":
        parts = [f"{result.get('client', 'realtime_fast')} on {result['transport']}, {result['loop']}, {result['sessions']} sessions"]
        if result.get("send_only"):
            parts.append("send only")
        if result.get("append_ms", 20) != 20:
            parts.append(f"{result['append_ms']} ms appends")
        if result.get("history_items", 20) != 20:
            parts.append(f"history {result.get('history_items') or 'unbounded'}")
        if result.get("keep_item_audio") is False:
            parts.append("items keep no audio")
        if result.get("audio_format", "pcm16") != "pcm16":
            parts.append({"g711_ulaw": "G.711 mu-law", "g711_alaw": "G.711 A-law"}.get(result["audio_format"], result["audio_format"]))
        if result.get("tls"):
            parts.append("TLS")
        if result.get("client_use_aiofastnet") is False:
            parts.append("without aiofastnet")
        lag = result.get("p99_lag_ms")
        numbers = [] if lag is None or (isinstance(lag, float) and math.isnan(lag)) else [f"p99 {lag:.1f} ms"]
        numbers += [
            f"lost {result['lost_events']}",
            f"CPU {result['client_cpu_percent']:.0f} % ({1e6 * result['client_cpu_per_session_second']:.0f} us/session-s)",
            f"RSS {result['rss_mb']:.0f} MB",
            "holds" if result.get("ok") else "fails",
        ]
        return ", ".join(parts), ", ".join(numbers)
    if kind == "e2e":
        what = f"end to end, {stem(result)[4:]} ({result['source']} source, pace {result['pace_ms']:g} ms), {result['rounds']} rounds"
        numbers = []
        for loop, rows in result["loops"].items():
            client, bare = _median(rows.get("RealtimeClient picows", [])), _median(rows.get("picows bare", []))
            numbers.append(f"{loop}: client {client:.2f} us/msg = {client / bare:.2f}x bare picows")
        return what, "; ".join(numbers)
    if kind == "resampler":
        rows = {row["name"]: row for row in result["rows"]}
        ours = next(row for name, row in rows.items() if name.startswith("realtime_fast"))
        numbers = [f"ours {ours['us_per_frame_24k_8k']:.2f} / {ours['us_per_frame_8k_24k']:.2f} us per frame (24k->8k / 8k->24k)"]
        if "soxr HQ" in rows:
            hq = rows["soxr HQ"]
            numbers.append(f"soxr HQ {hq['us_per_frame_24k_8k']:.2f} / {hq['us_per_frame_8k_24k']:.2f} us")
        return f"resampler choice, {len(rows)} resamplers", ", ".join(numbers)
    if kind == "relay":
        options = _relay_options(result["command"])
        what = f"relay load, {options.get('--sessions')} sessions, relays {options.get('--relays', 'direct,ours,plain')}"
        if "--workers" in options:
            what += f", {options['--workers']} worker(s)"
        numbers = []
        for run in result["runs"]:
            relay = run.get("relay") if isinstance(run.get("relay"), dict) else {}
            cost = relay.get("cpu_per_session_second_us")
            numbers.append(
                f"{relay.get('kind', '?')}: p99 {run.get('p99_lag_ms', math.nan):.1f} ms, lost {run.get('lost_events')}"
                + ("" if cost is None else f", {cost:.0f} us/session-s")
            )
        return what, "; ".join(numbers)
    what = f"soak, {result['session_minutes']:g} session-min at {result['speed']:g}x, history {result['history_items']}"
    numbers = (
        f"{result['events_sent']} sent, {result['events_handled']} handled, lost {result['lost_events']}, "
        f"RSS {result['rss_after_warmup_mb']} -> {result['rss_end_mb']} MB"
    )
    return what, numbers


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", metavar="RUN.json", help="print the path a new result file should take in bench/results/, and exit")
    parser.add_argument("--date", help="YYYYMMDD for --name when the result has no time field (default: today, UTC)")
    args = parser.parse_args(argv)
    if args.name:
        with open(args.name) as f:
            print(os.path.relpath(os.path.join(RESULTS, name_for(json.load(f), date=args.date))))
        return 0

    names = sorted(n for n in os.listdir(RESULTS) if n != "README.md")
    cited = citations()
    rows, problems = [], []
    for name in names:
        try:
            with open(os.path.join(RESULTS, name)) as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = None
        if not isinstance(result, dict):
            result = None
        found = problems_of(name, result)
        if not any(fnmatch.fnmatchcase(name, p) for pattern in cited for p in _expand(pattern)):
            found.append("cited by no doc (README.md, docs/*.md)")
        problems += [f"bench/results/{name}: {p}" for p in found]
        try:
            what, numbers = describe(result) if result is not None else ("?", "")
        except (KeyError, ValueError, TypeError, ZeroDivisionError):
            what, numbers = "?", ""
        rows.append((name, what, numbers))
    for pattern, docs in sorted(cited.items()):
        if not any(fnmatch.fnmatchcase(n, p) for n in names for p in _expand(pattern)):
            problems.append(f"{', '.join(sorted(set(docs)))}: cites {pattern}, which matches no file in bench/results/")

    print("| file | what | key numbers |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{len(rows)} files, {len(cited)} citations in the docs.")
    if problems:
        print("\n" + "\n".join(problems), file=sys.stderr)
        print(f"\n{len(problems)} problem(s): rename with `--name`, cite the file in the docs, or delete it.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
