"""Secure multi-party computation on additive secret shares over Z_2^64 (semi-honest, dealer).

The user-facing pieces (see docs/smpc.md):

* :class:`InProcessCluster` — parties and dealer as threads; ``.share(x)`` makes a
  :class:`SharedTensor` (``+ - * @ / < >``, ``.sum()``, ``.mean()``, ``.reveal(to=…)``);
  ``.from_torch(model)`` shares a trained PyTorch model; ``.cost_report()`` gives bytes,
  rounds and time per operation (:class:`CostReport`).
* :class:`LocalCluster` — the same, with parties and dealer as processes over mutual TLS;
  :class:`RemoteCluster` drives parties on other hosts, and :class:`RemoteClient` is an input
  owner / result recipient on its own host.
* Functions on shared tensors: :func:`relu`, :func:`argmax`, :func:`argmin`, :func:`max`,
  :func:`min`, :func:`maximum`, :func:`minimum`,
  :func:`equal`, :func:`where`, :func:`sign`, :func:`abs`, :func:`reciprocal`,
  :func:`divide`, :func:`exp`, :func:`sigmoid`, :func:`tanh`, :func:`softmax`,
  :func:`sqrt`, :func:`rsqrt`, :func:`gelu`, :func:`silu`, :func:`leaky_relu`,
  :func:`hardtanh`, :func:`layer_norm`, :func:`concatenate`, :func:`stack`.
* The seam for other transports: :class:`Driver`, :class:`PartyRuntime` and
  :class:`DealerRuntime` run over any :class:`privet.core.channel.Channel`.
* Building blocks: :class:`FixedPoint`, :func:`share_additive`, :func:`reconstruct_additive`,
  :func:`share_xor`, :func:`reconstruct_xor`.
* For the demo: :func:`demo_seed_example`, :func:`demo_private_inference`.

Examples
--------
>>> from privet.smpc import InProcessCluster, relu
>>> with InProcessCluster(parties=2) as cluster:
...     x = cluster.share([-1.5, 2.5])
...     relu(x * 2).reveal()
array([0., 5.])
"""

from privet.smpc.activations import gelu, hardtanh, layer_norm, leaky_relu, silu
from privet.smpc.client import RemoteClient
from privet.smpc.cluster import InProcessCluster
from privet.smpc.comparison import (
    abs,
    argmax,
    argmin,
    equal,
    max,
    maximum,
    min,
    minimum,
    relu,
    sign,
    where,
)
from privet.smpc.cost import CostReport, OpCost
from privet.smpc.driver import Driver
from privet.smpc.examples import (
    InferenceReport,
    SeedExample,
    demo_private_inference,
    demo_seed_example,
)
from privet.smpc.fixed_point import FixedPoint
from privet.smpc.local_cluster import LocalCluster, RemoteCluster
from privet.smpc.model import LayerError, SharedModel
from privet.smpc.nonlinear import divide, exp, reciprocal, rsqrt, sigmoid, softmax, sqrt, tanh
from privet.smpc.runtime import DealerRuntime, PartyRuntime
from privet.smpc.sharing import (
    reconstruct_additive,
    reconstruct_xor,
    share_additive,
    share_xor,
)
from privet.smpc.tensor import SharedTensor, concatenate, stack

__all__ = [
    "CostReport",
    "DealerRuntime",
    "Driver",
    "FixedPoint",
    "InProcessCluster",
    "InferenceReport",
    "LayerError",
    "LocalCluster",
    "OpCost",
    "PartyRuntime",
    "RemoteClient",
    "RemoteCluster",
    "SeedExample",
    "SharedModel",
    "SharedTensor",
    "abs",
    "argmax",
    "argmin",
    "concatenate",
    "demo_private_inference",
    "demo_seed_example",
    "divide",
    "equal",
    "exp",
    "gelu",
    "hardtanh",
    "layer_norm",
    "leaky_relu",
    "max",
    "maximum",
    "min",
    "minimum",
    "reciprocal",
    "reconstruct_additive",
    "reconstruct_xor",
    "relu",
    "rsqrt",
    "share_additive",
    "share_xor",
    "sigmoid",
    "sign",
    "silu",
    "softmax",
    "sqrt",
    "stack",
    "tanh",
    "where",
]
