"""privet.transport: the real network, mutual TLS between OS processes and hosts.

:class:`TlsChannel` implements :class:`privet.core.channel.Channel` over TCP with TLS 1.3 and a
certificate required on both sides, so protocol code written against the channel (the SMPC
runtimes, secure aggregation) runs unchanged across processes and machines.

* :mod:`~privet.transport.framing`: versioned frames of raw array buffers; no pickle; strict
  validation and size limits before any allocation.
* :mod:`~privet.transport.certs`: a local CA and one certificate per endpoint (files 0600).
* :mod:`~privet.transport.tls`: the TLS contexts (TLS 1.3 only, names checked both ways).
* :mod:`~privet.transport.config`: who is in the network and where; config files.
* :mod:`~privet.transport.peer` and :mod:`~privet.transport.mesh`: the links and the channel,
  a timeout on every wait, and fail-fast when a peer dies.

Examples
--------
>>> import tempfile
>>> creds = make_certificates(tempfile.mkdtemp() + "/c", default_names(2, dealer=False, clients=0))
>>> sorted(creds)
['party-0', 'party-1']
"""

from privet.transport.certs import Credentials, load_credentials, make_certificates
from privet.transport.config import Endpoint, NetworkConfig, default_names, load_config
from privet.transport.framing import Frame, FrameKind, FrameReader, decode_frame, encode_frame
from privet.transport.mesh import TlsChannel
from privet.transport.tls import client_context, server_context

__all__ = [
    "Credentials",
    "Endpoint",
    "Frame",
    "FrameKind",
    "FrameReader",
    "NetworkConfig",
    "TlsChannel",
    "client_context",
    "decode_frame",
    "default_names",
    "encode_frame",
    "load_config",
    "load_credentials",
    "make_certificates",
    "server_context",
]
