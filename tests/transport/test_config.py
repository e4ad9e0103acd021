"""Network configs: who connects to whom, and config files with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privet.errors import ParameterError, ParameterTypeError
from privet.transport.certs import Credentials
from privet.transport.config import Endpoint, NetworkConfig, default_names, load_config


def test_links_cover_every_pair_once() -> None:
    ports = [7000, 7001, 7002, 7003]
    cfgs = [
        NetworkConfig.local(me=i, ports=ports, parties=3, dealer=True, clients=2) for i in range(6)
    ]
    pairs = set()
    for cfg in cfgs:
        for j in cfg.connects_to():
            assert cfg.me in cfgs[j].accepts_from()
            pairs.add(frozenset((cfg.me, j)))
    # Every pair with a listener is linked once; the two clients are not linked.
    assert len(pairs) == 15 - 1
    assert frozenset((4, 5)) not in pairs


def test_default_names() -> None:
    assert default_names(2, dealer=False, clients=2) == [
        "party-0",
        "party-1",
        "client-0",
        "client-1",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"me": 5}, "me must be an endpoint id in 0..2"),
        ({"session": ""}, "session must be 1..64"),
        ({"session": "é"}, "session must be 1..64"),
        ({"timeout": 0}, "timeout must be a finite number > 0"),
        ({"parties": 3}, "3 endpoints listed, but 3 parties and a dealer need at least 4"),
    ],
)
def test_bad_configs_are_refused(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "me": 0,
        "parties": 2,
        "dealer": True,
        "endpoints": (
            Endpoint("party-0", "h", 1),
            Endpoint("party-1", "h", 2),
            Endpoint("dealer", "h", 3),
        ),
    }
    with pytest.raises(ParameterError, match=message):
        NetworkConfig(**{**base, **kwargs})  # type: ignore[arg-type]


def test_parties_must_listen_and_names_must_be_distinct() -> None:
    with pytest.raises(ParameterError, match=r"needs a host and port"):
        NetworkConfig(
            me=0,
            parties=2,
            dealer=False,
            endpoints=(Endpoint("party-0", "h", 1), Endpoint("party-1")),
        )
    with pytest.raises(ParameterError, match=r"distinct"):
        NetworkConfig(
            me=0,
            parties=1,
            dealer=False,
            endpoints=(Endpoint("party-0", "h", 1), Endpoint("party-0")),
        )
    with pytest.raises(ParameterError, match=r"both host and port"):
        Endpoint("party-0", "h")
    with pytest.raises(ParameterError, match=r"<= 65535"):
        Endpoint("party-0", "h", 70000)
    with pytest.raises(ParameterTypeError):
        NetworkConfig(me=0, parties=1, dealer=1, endpoints=(Endpoint("party-0", "h", 1),))  # type: ignore[arg-type]


def _write_creds(folder: Path, name: str) -> None:
    for f in (f"{name}.pem", f"{name}.key", "ca.pem"):
        (folder / f).write_text("x")


TOML = """
session = "study-7"
me = 1
parties = 2
dealer = false
timeout = 12
bind = "0.0.0.0"

[credentials]
cert = "party-1.pem"
key = "party-1.key"
ca = "ca.pem"

[[endpoints]]
name = "party-0"
host = "10.0.0.1"
port = 7000

[[endpoints]]
name = "party-1"
host = "10.0.0.2"
port = 7000

[[endpoints]]
name = "client-0"
"""


def test_toml_and_json_configs_load(tmp_path: Path) -> None:
    _write_creds(tmp_path, "party-1")
    (tmp_path / "p1.toml").write_text(TOML)
    cfg, creds = load_config(tmp_path / "p1.toml")
    assert (cfg.me, cfg.parties, cfg.dealer, cfg.session, cfg.timeout, cfg.bind) == (
        1,
        2,
        False,
        "study-7",
        12.0,
        "0.0.0.0",  # noqa: S104 - read from the config, never bound here
    )
    assert cfg.endpoints[0] == Endpoint("party-0", "10.0.0.1", 7000)
    assert cfg.endpoints[2].listens is False
    assert creds == Credentials(
        "party-1", tmp_path / "party-1.pem", tmp_path / "party-1.key", tmp_path / "ca.pem"
    )
    import tomllib

    (tmp_path / "p1.json").write_text(json.dumps(tomllib.loads(TOML)))
    assert load_config(tmp_path / "p1.json")[0] == cfg


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda t: t.replace("me = 1", "me = 9"), ParameterError, "me = 9 is not an id"),
        (lambda t: t.replace("me = 1", 'me = "1"'), ParameterTypeError, "'me' must be a int"),
        (lambda t: t.replace("parties = 2\n", ""), ParameterError, "missing key 'parties'"),
        (lambda t: t.replace("timeout = 12", 'timeout = "soon"'), ParameterTypeError, "seconds"),
        (lambda t: t.replace('ca = "ca.pem"', 'ca = "nope.pem"'), ParameterError, "nope.pem"),
        (lambda t: t + "\n[[[", ParameterError, "not valid toml"),
    ],
)
def test_config_errors_name_the_problem(
    tmp_path: Path, edit: object, error: type[Exception], message: str
) -> None:
    _write_creds(tmp_path, "party-1")
    path = tmp_path / "p1.toml"
    path.write_text(edit(TOML))  # type: ignore[operator]
    with pytest.raises(error, match=message):
        load_config(path)
