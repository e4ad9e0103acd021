"""Real processes over TLS: a killed party fails everyone fast; parties started from configs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from privet.cli.app import app
from privet.core import SecureRandom
from privet.errors import ParameterError, ProtocolError, TransportError
from privet.smpc import RemoteClient, argmax, party_main
from privet.smpc.local_cluster import LocalCluster, RemoteCluster

pytestmark = pytest.mark.timeout(180)

TIMEOUT = 10.0


def test_sigkill_mid_protocol_makes_every_other_process_exit_with_an_error() -> None:
    c = LocalCluster(parties=3, timeout=TIMEOUT)
    try:
        x = c.share(np.linspace(-5, 5, 100_000))
        y = c.share(np.linspace(5, -5, 100_000))
        outcome: dict[str, BaseException] = {}

        def work() -> None:
            try:
                for _ in range(1000):
                    _ = x < y  # eight rounds each: the kill lands mid-protocol
            except BaseException as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(0.5)
        victim = c.processes["party-1"]
        t0 = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        bound = TIMEOUT + 10.0  # a liveness bound, generous for CI; not a performance claim
        worker.join(bound)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), TransportError | ProtocolError), outcome
        for name, proc in c.processes.items():
            if name == "party-1":
                continue
            proc.wait(max(0.1, bound - (time.monotonic() - t0)))
            assert proc.returncode == 1, (name, proc.returncode)
        assert time.monotonic() - t0 < bound
        assert victim.wait(5) == -signal.SIGKILL
        logs = {p.name: p.read_text() for p in Path(c._tmp.name).glob("*.log")}
        for name in ("party-0.log", "party-2.log", "dealer.log"):
            assert "privet-party: TransportError" in logs[name] or (
                "privet-party: ProtocolError: frame truncated" in logs[name]
            ), logs
        assert any("party-1" in logs[n] for n in ("party-0.log", "party-2.log", "dealer.log"))
        with pytest.raises(ProtocolError, match=r"failed earlier"):
            _ = x * y
    finally:
        c.close()
    assert not Path(c._tmp.name).exists()  # keys deleted


def test_a_stalled_party_makes_every_process_exit_the_dealer_too() -> None:
    """A party that fails inside an instruction aborts: the dealer does not wait idle."""
    c = LocalCluster(parties=2, timeout=3.0)
    try:
        x = c.share(np.arange(5.0))
        stalled = c.processes["party-0"]
        os.kill(stalled.pid, signal.SIGSTOP)
        try:
            # the driver's own timeout, or the other party's, passed on in its abort: the
            # two waits end together, and either may be read first
            with pytest.raises(TransportError, match=r"timed out|PeerTimeoutError"):
                _ = x < 2
        finally:
            os.kill(stalled.pid, signal.SIGCONT)
        bound = 20.0  # a liveness bound (the idle timeout would be an hour), not a timing claim
        for name, proc in c.processes.items():
            assert proc.wait(bound) == 1, name
    finally:
        c.close()


def test_two_stalled_parties_are_named_and_the_rest_stop_at_once() -> None:
    """Each endpoint after the first failure used to get a whole timeout: with two of three
    parties stopped the error came after 3 timeouts, and close() waited one more per stalled
    party plus 10 s, while the survivors got a clean stop (status 0)."""
    timeout = 5.0
    c = LocalCluster(parties=3, timeout=timeout)
    stalled = [c.processes["party-1"], c.processes["party-2"]]
    try:
        x = c.share(np.arange(5.0))
        for p in stalled:
            os.kill(p.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(TransportError) as caught:
            _ = (x * x).reveal()
        failed_after = time.monotonic() - t0
        assert "party 1" in str(caught.value) or "party-1" in str(caught.value), caught.value
        t0 = time.monotonic()
        c.close()
        closed_after = time.monotonic() - t0
        # liveness bounds, generous for CI (before: about 3 and 4 timeouts); no timing claim
        assert failed_after < 2.5 * timeout, failed_after
        assert closed_after < 1.5 * timeout, closed_after
        assert c.processes["party-0"].wait(5) == 1  # aborted, not a clean stop
        assert c.processes["dealer"].wait(5) == 1
    finally:
        for p in stalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)
        c.close()


def test_the_runtimes_give_up_after_the_idle_timeout() -> None:
    """The wait for the driver's next instruction is idle_timeout (an hour by default), now
    set per cluster: a stopped driver does not hold the parties for an hour if asked."""
    c = LocalCluster(parties=2, timeout=TIMEOUT, idle_timeout=1.0)
    try:
        x = c.share(np.arange(3.0))
        for name, proc in c.processes.items():
            assert proc.wait(20) == 1, name  # a liveness bound, not a timing claim
        with pytest.raises(TransportError):
            _ = (x * x).reveal()
    finally:
        c.close()


def test_a_short_idle_timeout_does_not_stop_a_busy_dealer() -> None:
    """The dealer gets only the instructions that need its material: with the parties'
    idle_timeout it timed out in a busy run of local operations."""
    c = LocalCluster(parties=2, timeout=TIMEOUT, idle_timeout=1.0)
    try:
        x = c.share(np.arange(4.0))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:  # no dealer instruction for 2.5 s
            x = x + 1.0
        assert np.allclose((x * x).reveal(), (np.arange(4.0) + np.round(x.reveal()[0])) ** 2)
    finally:
        c.close()


def test_close_after_a_failure_with_the_dealer_in_process_is_quick() -> None:
    """With dealer=False the dealer's thread holds its channel while it waits; close()
    aborted that channel first and so waited out the idle timeout (an hour)."""
    c = LocalCluster(parties=2, dealer=False, timeout=2.0)
    stalled = c.processes["party-1"]
    try:
        x = c.share(np.arange(3.0))
        os.kill(stalled.pid, signal.SIGSTOP)
        with pytest.raises(TransportError):
            _ = (x + 1.0).reveal()
        t0 = time.monotonic()
        c.close()
        assert time.monotonic() - t0 < 20.0  # a liveness bound (was an hour), not timing
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stalled.pid, signal.SIGCONT)
        c.close()


def test_timeouts_beyond_what_the_system_can_wait_are_refused() -> None:
    with pytest.raises(ParameterError, match="at most"):
        LocalCluster(parties=2, connect_timeout=1e10)
    with pytest.raises(ParameterError, match="at most"):
        LocalCluster(parties=2, timeout=1e300)


def _free_ports(n: int) -> list[int]:
    socks = [socket.create_server(("127.0.0.1", 0)) for _ in range(n)]
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@contextlib.contextmanager
def _parties_from_configs(
    tmp_path: Path, *, clients: int = 1
) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """Write certificates and configs for loopback hosts and start the two parties and the
    dealer from them; yield the folder and the processes (a test may append its own: every
    process is killed at the end if still running)."""
    ports = _free_ports(3)
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
    out = tmp_path / "pki"
    args = ["smpc", "certs", "--out", str(out), "--parties", "2", "--hosts", hosts]
    res = CliRunner().invoke(app, [*args, "--clients", str(clients)])
    assert res.exit_code == 0, res.output
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "privet.smpc.party_main", "--config", str(out / f"{n}.toml")],
            stderr=subprocess.PIPE,
        )
        for n in ("party-0", "party-1", "dealer")
    ]
    try:
        yield out, procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(5)
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream:
                    stream.close()


def _servers_exit_cleanly(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs[:3]:
        assert p.wait(20) == 0, p.stderr.read() if p.stderr else ""


def test_parties_started_from_config_files_serve_a_remote_driver(tmp_path: Path) -> None:
    with _parties_from_configs(tmp_path) as (out, procs):
        assert {"party-0.toml", "party-1.toml", "dealer.toml", "client-0.toml"} <= {
            p.name for p in out.iterdir()
        }
        with pytest.raises(ParameterError, match=r"the driver is endpoint 3"):
            RemoteCluster(out / "party-0.toml")
        with RemoteCluster(out / "client-0.toml") as c:
            x = c.share([1.5, -2.0, 4.0])
            assert np.allclose((x * x).reveal(), [2.25, 4.0, 16.0], atol=1e-3)
            assert (x < 0).reveal().tolist() == [0, 1, 0]
        _servers_exit_cleanly(procs)


def test_remote_clients_share_their_inputs_and_alone_receive_the_results(tmp_path: Path) -> None:
    """Bob (a RemoteClient) and Carol (`privet smpc client`) on their own hosts: their shares
    go to the parties, and each result to its recipient alone."""
    stack = contextlib.ExitStack()
    out, procs = stack.enter_context(_parties_from_configs(tmp_path, clients=3))
    x = np.array([[1.5, -2.0], [0.25, 3.0]])
    torch = pytest.importorskip("torch")
    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()).eval()  # Bob's model
    np.save(tmp_path / "carol.npy", np.arange(6, dtype=np.int64))
    carol = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from privet.cli.app import main; main()",
            *("smpc", "client", "--config", str(out / "client-2.toml")),
            *("--input", str(tmp_path / "carol.npy"), "--integer", "--receive", "1"),
            *("--out", str(tmp_path / "carol")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    procs.append(carol)
    bob: dict[str, object] = {}

    def run_bob() -> None:
        try:
            with RemoteClient(out / "client-1.toml", rng=SecureRandom.seeded(3)) as client:
                bob["weights"] = client.share_model(net)  # the model owner (Bob too, here)
                client.share(x)
                bob["logits"] = client.receive()
                bob["result"] = client.receive()
                bob["argmax"] = client.receive()
                client.share(np.arange(4.0).reshape(2, 2))  # input number 1
        except BaseException as exc:
            bob["error"] = exc

    thread = threading.Thread(target=run_bob)
    thread.start()
    try:
        with pytest.raises(ParameterError, match="a RemoteClient takes another client"):
            RemoteClient(out / "client-0.toml")
        with RemoteCluster(out / "client-0.toml") as c:
            assert c.clients == ("driver", "client-1", "client-2")
            torch.manual_seed(99)  # the driver knows the architecture, not the weights
            model = c.from_torch(
                torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()), owner="client-1"
            )
            sx = c.share_from("client-1", (2, 2))
            c.send(model(sx), to="client-1")
            with pytest.raises(ParameterError, match="no plaintext reference"):
                model.layer_errors(sx, x)
            c.send(sx * 2.0, to="client-1")
            c.send(argmax(sx, axis=1), to="client-1")
            with pytest.raises(ParameterError, match="on another host"):
                c.share(x, owner="client-1")
            with pytest.raises(ParameterError, match="on another host"):
                sx.reveal(to="client-1")
            with pytest.raises(ParameterError, match="not a remote client"):
                c.send(sx, to="driver")
            second = c.share_from("client-1", (2, 2))
            assert np.array_equal(second.reveal(), np.arange(4.0).reshape(2, 2))
            sc = c.share_from("client-2", (6,), integer=True)
            c.send(sc * sc, to="client-2")
        thread.join(30)
        assert not thread.is_alive()
        assert "error" not in bob, bob
        assert bob["weights"] == 2
        with torch.no_grad():
            want = net.double()(torch.tensor(x)).numpy()
        assert np.max(np.abs(np.asarray(bob["logits"]) - want)) <= 1e-3
        assert np.max(np.abs(np.asarray(bob["result"]) - 2 * x)) <= 1e-4
        assert np.asarray(bob["argmax"]).tolist() == [0, 1]
        assert np.asarray(bob["argmax"]).dtype.kind == "i"
        log = carol.communicate(timeout=30)[0].decode()
        assert carol.returncode == 0, log
        assert np.load(tmp_path / "carol" / "result-0.npy").tolist() == [0, 1, 4, 9, 16, 25]
        _servers_exit_cleanly(procs)
    finally:
        thread.join(5)
        stack.close()


def test_a_remote_client_that_dies_ends_only_its_own_link(tmp_path: Path) -> None:
    """Bob shares, then his process dies without goodbye: the run goes on without him."""
    stack = contextlib.ExitStack()
    out, procs = stack.enter_context(_parties_from_configs(tmp_path, clients=2))
    bob_code = (
        "import os, sys, time; import numpy as np; from privet.smpc import RemoteClient; "
        "c = RemoteClient(sys.argv[1]); c.share(np.array([1.0, 2.0, 3.0])); "
        "sys.stdin.readline(); os._exit(0)"  # killed, in effect: no goodbye
    )
    bob = subprocess.Popen(
        [sys.executable, "-c", bob_code, str(out / "client-1.toml")], stdin=subprocess.PIPE
    )
    procs.append(bob)
    try:
        with RemoteCluster(out / "client-0.toml") as c:
            x = c.share_from("client-1", (3,))
            assert bob.stdin is not None
            bob.stdin.write(b"go\n")
            bob.stdin.flush()
            assert bob.wait(20) == 0
            time.sleep(0.5)  # the parties see Bob's stream end
            y = c.share([10.0, 20.0, 30.0])
            assert np.allclose((x * y).reveal(), [10.0, 40.0, 90.0], atol=1e-3)
        _servers_exit_cleanly(procs)
    finally:
        stack.close()


def test_cli_client_refuses_an_unreadable_input(tmp_path: Path) -> None:
    (tmp_path / "bad.npy").write_text("not an array")
    res = CliRunner().invoke(
        app,
        [
            "smpc",
            "client",
            "--config",
            str(tmp_path / "c.toml"),
            "--input",
            str(tmp_path / "bad.npy"),
        ],
    )
    assert res.exit_code == 1
    assert "cannot read" in res.output


def test_party_main_reports_bad_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert party_main.main(["--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read config" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'me = 0\nparties = 2\ndealer = true\nendpoints = []\n[credentials]\ncert = "x"\n'
    )
    assert party_main.main(["--config", str(bad)]) == 2
    assert "bad config" in capsys.readouterr().err
    assert party_main.main([]) == 2


def test_cli_cluster_runs_a_self_check() -> None:
    res = CliRunner().invoke(app, ["smpc", "cluster", "--parties", "3", "--size", "2000"])
    assert res.exit_code == 0, res.output
    assert "started 4 processes" in res.output
    assert "x<y mismatches = 0: OK" in res.output


def test_cli_party_exits_2_on_a_bad_config(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["smpc", "party", "--config", str(tmp_path / "none.toml")])
    assert res.exit_code == 2


def test_the_dealer_may_run_in_the_drivers_process() -> None:
    with LocalCluster(parties=2, dealer=False, timeout=TIMEOUT) as c:
        assert sorted(c.processes) == ["party-0", "party-1"]
        x = c.share([3.0, -0.5])
        assert np.allclose((x * x).reveal(), [9.0, 0.25], atol=1e-3)
        assert c.dealer_seconds > 0
    assert c.exit_codes() == {"party-0": 0, "party-1": 0}
    assert all(not t.is_alive() for t in c._threads)


def test_a_process_that_cannot_start_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # every child exits at once
    t = time.monotonic()
    with pytest.raises(TransportError, match=r"party-0 (did not start|exited).*status 1"):
        LocalCluster(parties=2, connect_timeout=20.0)
    assert time.monotonic() - t < 10
