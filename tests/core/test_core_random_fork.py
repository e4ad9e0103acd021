"""Fork safety: a child process never repeats its parent's stream (real fork, no mocks)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from multiprocessing.connection import Connection

import pytest

from privet.core import SecureRandom

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python >= 3.12 warns when forking a process that has threads; the fork is the point here.
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]


def _draw_in_forked_child(rng: SecureRandom, nbytes: int = 64) -> bytes:
    """Fork; the child draws ``nbytes`` and sends them back; return the child's bytes."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(r)
            os.write(w, rng.bytes(nbytes))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 4096):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks)


@pytest.mark.parametrize("seeded", [False, True])
def test_child_after_os_fork_does_not_repeat_parent(seeded: bool) -> None:
    rng = SecureRandom.seeded(99) if seeded else SecureRandom()
    rng.bytes(10)  # a used generator, part way through its stream
    child = _draw_in_forked_child(rng)
    parent = rng.bytes(64)
    assert len(child) == 64
    assert child != parent
    # The parent's own stream is untouched by the fork: it matches a twin that never forked.
    if seeded:
        twin = SecureRandom.seeded(99)
        twin.bytes(10)
        assert twin.bytes(64) == parent


def test_two_children_differ_from_each_other_and_the_parent() -> None:
    rng = SecureRandom.seeded(5)
    a = _draw_in_forked_child(rng)
    b = _draw_in_forked_child(rng)
    assert len({a, b, rng.bytes(64)}) == 3


def test_pid_check_rekeys_even_without_the_fork_hook() -> None:
    # Simulate a fork whose after_in_child hook did not run: only the pid differs.
    a = SecureRandom.seeded(3)
    b = SecureRandom.seeded(3)
    b._pid = -1
    assert a.bytes(32) != b.bytes(32)
    assert b._pid == os.getpid()


def _mp_child(rng: SecureRandom, conn: Connection) -> None:
    conn.send(rng.uint64(8).tobytes())
    conn.close()


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_multiprocessing_fork_context_children_differ() -> None:
    ctx = mp.get_context("fork")
    rng = SecureRandom.seeded(7)
    outs = []
    for _ in range(2):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_mp_child, args=(rng, send))
        proc.start()
        outs.append(recv.recv())
        proc.join(timeout=30)
        assert proc.exitcode == 0
    outs.append(rng.uint64(8).tobytes())
    assert len(set(outs)) == 3
