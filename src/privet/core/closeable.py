"""A resource that is closed by ``close()``, and by leaving a ``with`` block.

Examples
--------
>>> class Thing(Closeable):
...     def close(self):
...         print("closed")
>>> with Thing() as t:
...     pass
closed
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closeable"]


class Closeable:
    """Mixin: ``with obj:`` returns ``obj`` and calls ``obj.close()`` on the way out."""

    def close(self) -> None:
        """Release the resource (each subclass defines how)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
