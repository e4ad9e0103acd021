"""Read-only access to the table a :class:`~privet.dp.Session` queries.

A :class:`Table` wraps a pandas or polars DataFrame, or reads a CSV or Parquet file (with
polars). It hands out columns as numpy arrays and integer codes, and keeps nothing else.
Its errors name a column and the fix; they never show a cell.

Examples
--------
>>> import pandas as pd
>>> t = Table(pd.DataFrame({"id": [1, 1, 2], "x": [0.5, 1.5, 2.0]}))
>>> t.n_rows, t.columns
(3, ('id', 'x'))
>>> t.numeric("x").tolist()
[0.5, 1.5, 2.0]
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from numpy.typing import NDArray

from privet.core.errors import DataError, ParameterError, ParameterTypeError

__all__ = ["Table", "column_kind"]

_DENSE_SLACK = 1024


def column_kind(dtype: Any) -> str:
    """Return ``"numeric"``, ``"boolean"``, ``"categorical"`` or ``"other"`` for a dtype.

    Parameters
    ----------
    dtype : numpy, pandas or polars dtype
        The column's dtype.

    Returns
    -------
    str
        The kind.

    Examples
    --------
    >>> column_kind(np.dtype("float32")), column_kind(pl.Utf8)
    ('numeric', 'categorical')
    """
    if isinstance(dtype, pl.DataType) or (
        isinstance(dtype, type) and issubclass(dtype, pl.DataType)
    ):
        if dtype == pl.Boolean:
            return "boolean"
        if dtype.is_numeric():
            return "numeric"
        if dtype in (pl.Utf8, pl.Categorical, pl.Enum) or isinstance(
            dtype, pl.Categorical | pl.Enum
        ):
            return "categorical"
        return "other"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    ):
        return "categorical"
    return "other"


def _read(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataError(f"no file {str(path)!r}; pass an existing CSV or Parquet file")
    if suffix in (".csv", ".gz") or path.name.lower().endswith(".csv.gz"):
        return pl.read_csv(path, infer_schema_length=10_000)
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    raise DataError(
        f"cannot read {path.name!r}: privet reads .csv and .parquet files; convert it, or "
        "pass a pandas or polars DataFrame"
    )


class Table:
    """A pandas or polars DataFrame, or a CSV/Parquet file, as numpy columns.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame, polars.LazyFrame, str or os.PathLike
        The table, or the path of a ``.csv`` / ``.parquet`` file.

    Raises
    ------
    ParameterTypeError
        For any other type of ``data``.
    DataError
        For a missing or unreadable file, or duplicate column names.
    """

    def __init__(self, data: object) -> None:
        frame: pd.DataFrame | pl.DataFrame
        if isinstance(data, str | os.PathLike):
            frame = _read(Path(data))
        elif isinstance(data, pl.LazyFrame):
            frame = data.collect()
        elif isinstance(data, pd.DataFrame | pl.DataFrame):
            frame = data
        else:
            raise ParameterTypeError(
                f"data must be a pandas or polars DataFrame or a CSV/Parquet path, got "
                f"{type(data).__name__}"
            )
        names = [str(c) for c in frame.columns]
        if len(set(names)) != len(names):
            raise DataError("the table has duplicate column names; rename them first")
        if isinstance(frame, pd.DataFrame) and list(frame.columns) != names:
            frame = frame.rename(columns=str)
        self._frame = frame
        self._names: tuple[str, ...] = tuple(names)

    @property
    def n_rows(self) -> int:
        """The number of rows (known to the data holder; never released)."""
        return int(self._frame.shape[0])

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names."""
        return self._names

    @property
    def is_polars(self) -> bool:
        """Whether the table is held as a polars DataFrame."""
        return isinstance(self._frame, pl.DataFrame)

    def dtype(self, name: str) -> Any:
        """Return the dtype of column ``name`` (pandas/numpy or polars)."""
        self.check_column(name)
        if isinstance(self._frame, pl.DataFrame):
            return self._frame.schema[name]
        return self._frame[name].dtype

    def kind(self, name: str) -> str:
        """Return the column's kind (:func:`column_kind`)."""
        return column_kind(self.dtype(name))

    def check_column(self, name: object, *, role: str = "column") -> str:
        """Return ``name`` if the table has it, else raise :class:`DataError` listing them."""
        if not isinstance(name, str):
            raise ParameterTypeError(f"{role} must be a column name (str), got {name!r}")
        if name not in self._names:
            shown = ", ".join(repr(c) for c in self._names[:30])
            more = "" if len(self._names) <= 30 else f" … ({len(self._names)} in all)"
            raise DataError(f"unknown {role} {name!r}; the table's columns are {shown}{more}")
        return name

    def numeric(self, name: str) -> NDArray[np.float64]:
        """Return column ``name`` as float64, missing values as NaN.

        Raises
        ------
        DataError
            If the column is not numeric or boolean.
        """
        self.check_column(name)
        kind = self.kind(name)
        if kind not in ("numeric", "boolean"):
            raise DataError(
                f"column {name!r} is not numeric (dtype {self.dtype(name)}); this query "
                "needs numbers: pick a numeric column, or use histogram() / groupby() for "
                "categories"
            )
        if isinstance(self._frame, pl.DataFrame):
            series = self._frame.get_column(name).cast(pl.Float64)
            return np.asarray(series.to_numpy(), dtype=np.float64)
        col = self._frame[name]
        return np.asarray(col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)

    def raw(self, name: str) -> NDArray[Any]:
        """Return column ``name`` as a numpy array (objects for strings), NA as None/NaN."""
        self.check_column(name)
        if isinstance(self._frame, pl.DataFrame):
            return np.asarray(self._frame.get_column(name).to_numpy())
        return np.asarray(self._frame[name].to_numpy())

    def codes(self, name: str) -> tuple[NDArray[np.int64], int]:
        """Return integer codes of column ``name`` and how many there may be.

        Codes are in ``[0, n_codes)``; missing values get ``-1``. A non-negative integer
        column of modest range is used as its own code (no hashing); anything else is
        factorized. Which value has which code is not returned (nothing here is released).

        Returns
        -------
        tuple of (numpy.ndarray, int)
            ``int64`` codes, one per row, and ``n_codes``.
        """
        self.check_column(name)
        values = self._integer_values(name)
        n = self.n_rows
        if values is not None and n:
            lo, hi = int(values.min()), int(values.max())
            if lo >= 0 and hi < 2 * n + _DENSE_SLACK:
                return values, hi + 1
        if values is not None and not n:
            return values, 0
        codes, uniques = pd.factorize(self._series(name), use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), len(uniques)

    def factorize(
        self, name: str, *, rows: NDArray[np.bool_] | None = None
    ) -> tuple[NDArray[np.int64], list[Hashable]]:
        """Return per-row codes of column ``name`` (``-1`` for missing) and the values.

        For histograms and group-bys with private keys: the values returned here are
        released only through DP partition selection. They come sorted (by value, or by
        type name and text when they cannot be compared), never in the order they first
        appear in the table, which would tell something about the rows. With ``rows`` (a
        mask), only those rows are coded.
        """
        self.check_column(name)
        series = self._series(name)
        if rows is not None:
            series = series[rows]
        try:  # sorted values: the order of first appearance in the table would leak
            codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
            labels = list(uniques.tolist() if hasattr(uniques, "tolist") else uniques)
        except TypeError:  # values of mixed types: order them by (type name, text)
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            raw = list(uniques.tolist() if hasattr(uniques, "tolist") else uniques)
            order = sorted(range(len(raw)), key=lambda i: (type(raw[i]).__name__, str(raw[i])))
            remap = np.empty(len(raw) + 1, dtype=np.int64)
            remap[-1] = -1
            remap[np.asarray(order, dtype=np.int64)] = np.arange(len(raw), dtype=np.int64)
            codes = remap[np.asarray(codes, dtype=np.int64)]
            labels = [raw[i] for i in order]
        return np.asarray(codes, dtype=np.int64), labels

    def indices(
        self, name: str, keys: Sequence[Hashable], *, rows: NDArray[np.bool_] | None = None
    ) -> NDArray[np.int64]:
        """Return, per row, the position of its value in ``keys`` (``-1`` if absent or NA).

        Parameters
        ----------
        name : str
            The column.
        keys : sequence
            Public, distinct keys.
        rows : numpy.ndarray or None
            A mask: only these rows (in order) are looked up.

        Returns
        -------
        numpy.ndarray
            ``int64`` indices into ``keys``.
        """
        self.check_column(name)
        values = self._integer_values(name)
        if values is not None and keys and all(isinstance(k, int | np.integer) for k in keys):
            ks = np.asarray(keys, dtype=np.int64)
            start = int(ks[0])
            if np.array_equal(ks, np.arange(start, start + len(ks), dtype=np.int64)):
                # contiguous integer keys: a subtraction, no hashing
                shifted = values[rows] if rows is not None else values - start
                if rows is not None:
                    shifted -= start
                shifted[(shifted < 0) | (shifted >= len(ks))] = -1
                return shifted
        index = pd.Index(list(keys))
        if not index.is_unique:
            raise ParameterError("keys must be distinct; remove the repeated keys")
        series = self._series(name)
        if rows is not None:
            series = series[rows]
        return np.asarray(index.get_indexer(series), dtype=np.int64)

    def _series(self, name: str) -> pd.Series[Any]:
        if isinstance(self._frame, pl.DataFrame):
            col = self._frame.get_column(name)
            if col.dtype in (pl.Categorical, pl.Enum) or isinstance(
                col.dtype, pl.Categorical | pl.Enum
            ):
                col = col.cast(pl.Utf8)
            return pd.Series(col.to_numpy(), copy=False)
        return self._frame[name]

    def _integer_values(self, name: str) -> NDArray[np.int64] | None:
        """Return the column as int64 if it is an integer column without missing values."""
        if isinstance(self._frame, pl.DataFrame):
            col = self._frame.get_column(name)
            if col.dtype.is_integer() and col.null_count() == 0:
                return np.asarray(col.to_numpy(), dtype=np.int64)
            return None
        ser = self._frame[name]
        if pd.api.types.is_integer_dtype(ser.dtype) and not isinstance(
            ser.dtype, pd.api.extensions.ExtensionDtype
        ):
            return np.asarray(ser.to_numpy(), dtype=np.int64)
        if pd.api.types.is_integer_dtype(ser.dtype) and not ser.hasnans:
            return np.asarray(ser.to_numpy(dtype=np.int64), dtype=np.int64)
        return None
