"""Load harness of realtime_fast: many concurrent real-time voice sessions, and a long-session soak.

``realtime-fast bench load`` runs N sessions in this process (pinned to one
core) against :class:`realtime_fast.mock.load.LoadServer` in a child process
(pinned to the other core) and reports event lag, CPU per session-second, RSS
and lost events; ``realtime-fast bench soak`` runs one accelerated long
server-VAD session and checks that memory stays flat.  See
:mod:`realtime_fast.bench.load` and :mod:`realtime_fast.bench.soak`.
"""
