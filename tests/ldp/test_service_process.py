"""`privet ldp serve` as a real process over a real socket: reports survive kill -9 and restart."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from typer.testing import CliRunner

from privet.cli.app import app
from privet.core import SecureRandom
from privet.ldp.client import LdpClient

PRIVET = str(Path(sys.executable).parent / "privet")


class Server:
    """A `privet ldp serve` subprocess; its URL is read from its first stdout line."""

    def __init__(self, *args: str, entry: tuple[str, ...] = (PRIVET, "ldp")) -> None:
        env = {**os.environ, "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [*entry, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        self.reader = threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True)
        self.reader.start()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            self.kill()
            raise AssertionError("the service printed nothing within 60 s") from None
        if not first.startswith("serving on "):
            self.kill()
            raise AssertionError(f"unexpected first line: {first!r}")
        self.url = first.split()[-1]
        self.lines = lines

    def _close(self) -> None:
        self.reader.join(30)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._close()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self._close()
        return code


def test_serve_kill_restart_keeps_reports(tmp_path: Path) -> None:
    db = str(tmp_path / "reports.sqlite")
    first = Server(
        "--db", db, "--mechanism", "rappor", "--bloombits", "16", "--cohorts", "4",
        "--round", "day1",
    )  # fmt: skip
    try:
        client = LdpClient(first.url)
        assert client.config()["collection"]["num_bloombits"] == 16
        values = ["yes"] * 200 + ["no"] * 100
        ids = [f"patient-{i}" for i in range(300)]
        res = client.submit(values, clients=ids, round="day1", rng=SecureRandom.seeded(9))
        assert res.accepted == 300
        # Bad reports are rejected with reasons and counted.
        status, doc = client.request(
            "POST", "/report", {"client": "x", "round": "day1", "cohort": 7, "bits": [0] * 16}
        )
        assert (status, doc["error"]) == (400, "wrong_cohort")
        status, doc = client.request(
            "POST", "/report", {"client": "y", "round": "day1", "cohort": 0, "bits": [3] * 16}
        )
        assert (status, doc["error"]) == (400, "non_binary")
    finally:
        first.kill()  # no clean shutdown: acknowledged reports must already be on disk
    # The restart runs the same sub-command through `python -m privet.cli.ldp` (it skips
    # importing the other rooms' commands); the parameters come from the database.
    second = Server("--db", db, entry=(sys.executable, "-m", "privet.cli.ldp"))
    try:
        client = LdpClient(second.url)
        stats = client.stats()
        assert stats["accepted"] == {"day1": 300}
        assert stats["rejected"] == {"wrong_cohort": 1, "non_binary": 1}
        # Duplicates are still recognised after the restart.
        again = client.submit(["yes"], clients=["patient-0"], round="day1")
        assert [r[1] for r in again.rejected] == ["duplicate"]
        assert client.stats()["accepted_total"] == 300
        assert second.terminate() == 0  # SIGTERM: a clean stop
    finally:
        if second.proc.poll() is None:
            second.kill()
    # The stored reports decode.
    (tmp_path / "cands.txt").write_text("yes\nno\nmaybe\n")
    result = CliRunner().invoke(
        app, ["ldp", "estimate", "--db", db, "--candidates", str(tmp_path / "cands.txt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["num_reports"] == 300
    by_label = {row["label"]: row for row in doc["rows"]}
    assert by_label["yes"]["estimate"] > by_label["no"]["estimate"]
