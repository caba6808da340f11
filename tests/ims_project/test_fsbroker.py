"""The filesystem broker of a machine without Redis writes each message whole before a consumer can see it
(ims_project/fsbroker.py): kombu's own created the file, then wrote it, and a consumer in between read an empty
message and stopped the worker."""

from __future__ import annotations

import json
import multiprocessing

from kombu import Connection

from ims_project import fsbroker


def _channel(folder):
    conn = Connection(
        fsbroker.register(),
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder)},
    )
    return conn, conn.default_channel


def _consume(folder: str, stop, counts) -> None:
    """As kombu's consumer does: any file named for the queue is taken and read (in a process of its own, so that it
    runs while the producer writes)."""
    from pathlib import Path

    while not stop.is_set():
        for path in Path(folder).iterdir():
            if path.name.partition(".")[2] == "q.msg":
                try:
                    raw = path.read_bytes()
                    path.unlink()
                except FileNotFoundError:
                    continue
                try:
                    json.loads(raw)
                    counts[0] += 1
                except ValueError:
                    counts[1] += 1


def test_a_consumer_never_finds_a_message_half_written(tmp_path):
    conn, channel = _channel(tmp_path)
    ctx = multiprocessing.get_context("fork")
    stop, counts = ctx.Event(), ctx.Array("i", [0, 0])  # messages read whole, messages read half-written
    consumer = ctx.Process(target=_consume, args=(str(tmp_path), stop, counts))
    consumer.start()
    try:
        for n in range(2000):
            channel._put("q", {"n": n, "body": "x" * 20_000})
    finally:
        stop.set()
        consumer.join(timeout=30)
        conn.release()
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".q.msg")]
    assert counts[1] == 0, f"{counts[1]} messages read half-written"
    assert counts[0] + len(left) == 2000


def test_each_message_goes_through_the_broker_once_and_leaves_no_partial_file(tmp_path):
    conn, channel = _channel(tmp_path)
    try:
        for n in range(3):
            channel._put("q", {"n": n})
        # kombu orders messages by the millisecond they were written (not within one): each arrives, once
        assert sorted(channel._get("q")["n"] for _ in range(3)) == [0, 1, 2]
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial-")]
    finally:
        conn.release()
