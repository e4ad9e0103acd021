"""The user API shared by every cluster: in-process, local processes and remote hosts.

:class:`~privet.smpc.cluster.InProcessCluster`, :class:`~privet.smpc.local_cluster.LocalCluster`
and :class:`~privet.smpc.local_cluster.RemoteCluster` differ only in how the parties run; what
a user calls (``share``, ``from_torch``, ``cost_report`` …) is this one class over the driver.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike

from privet.core.closeable import Closeable
from privet.core.errors import ProtocolError
from privet.smpc.cost import CostReport
from privet.smpc.driver import Driver
from privet.smpc.tensor import SharedTensor

if TYPE_CHECKING:
    from privet.smpc.model import SharedModel

__all__ = ["DriverFacade"]


class DriverFacade(Closeable):
    """The user API every cluster shares: sharing, models, costs, over its :class:`Driver`.

    A cluster is a context manager: leaving the ``with`` block calls its :meth:`close`.
    """

    _driver: Driver | None

    def close(self) -> None:
        """Stop the parties and release the cluster (each cluster defines how)."""
        raise NotImplementedError

    @property
    def driver(self) -> Driver:
        """The driver (for protocol-level code)."""
        if self._driver is None:  # pragma: no cover - set in __init__
            raise ProtocolError("the cluster did not start")
        return self._driver

    @property
    def parties(self) -> int:
        """The number of computing parties."""
        return self.driver.parties

    @property
    def frac_bits(self) -> int:
        """Fixed-point fractional bits."""
        return self.driver.frac_bits

    @property
    def truncation(self) -> str:
        """The truncation mode."""
        return self.driver.truncation

    @property
    def clients(self) -> tuple[str, ...]:
        """Client names (``"driver"`` first)."""
        return self.driver.clients

    def share(
        self, x: ArrayLike, *, owner: str | None = None, integer: bool = False
    ) -> SharedTensor:
        """Secret-share ``x`` from client ``owner`` (default: the driver).

        Parameters
        ----------
        x
            Array-like of reals (checked against the representable range).
        owner
            The client that owns and shares the input.
        integer
            Share integers exactly (``frac_bits = 0``).

        Returns
        -------
        SharedTensor
            The shared tensor.
        """
        return self.driver.share(x, owner=owner, integer=integer)

    def from_torch(self, module: Any, *, owner: str | None = None) -> SharedModel:
        """Secret-share a trained PyTorch model from client ``owner``.

        See :func:`privet.smpc.model.from_torch` for the supported layers.
        """
        from privet.smpc.model import from_torch

        return from_torch(self.driver, module, owner=owner)

    def preprocessing(self) -> AbstractContextManager[None]:
        """Run each operation inside as an offline phase, then an online one.

        The dealer first produces all of an operation's correlated randomness; only then do
        the parties start. The cost report's ``offline_seconds`` / ``online_seconds`` split
        the time (see :meth:`privet.smpc.driver.Driver.preprocessing`).

        Examples
        --------
        >>> from privet.smpc import InProcessCluster
        >>> with InProcessCluster(parties=2) as cluster:
        ...     x = cluster.share([1.5, -2.0])
        ...     with cluster.preprocessing():
        ...         y = x * x
        ...     row = cluster.cost_report()["mul"]
        ...     print(y.reveal(), row.offline_seconds > 0, row.online_seconds > 0)
        [2.25 4.  ] True True
        """
        return self.driver.preprocessing()

    def cost_report(self) -> CostReport:
        """Return the per-operation costs recorded so far."""
        return self.driver.cost_report()

    def reset_costs(self) -> None:
        """Forget the recorded costs."""
        self.driver.reset_costs()
