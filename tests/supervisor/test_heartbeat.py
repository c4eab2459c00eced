"""The heartbeat's shared memory: beats one way, the stop announcement and stack reports."""

from __future__ import annotations

from pronghorn.supervisor.heartbeat import Heartbeat


def test_beats_announcement_and_stack_count_do_not_overwrite_each_other() -> None:
    heartbeat = Heartbeat()
    try:
        assert heartbeat.read() is None
        assert not heartbeat.server_stopping()
        assert heartbeat.stacks_written() == 0
        heartbeat.announce_server_stop()
        for _ in range(257):
            heartbeat.count_stacks_written()
        heartbeat.write(12.5, (10.0, "GET /" + "x" * 1000))
        beat = heartbeat.read()
        assert beat is not None
        assert (beat.alive, beat.busy_since) == (12.5, 10.0)
        assert beat.request.startswith("GET /xxx") and len(beat.request) < 512
        assert heartbeat.server_stopping()
        assert heartbeat.stacks_written() == 1  # counted modulo 256
    finally:
        heartbeat.close()
