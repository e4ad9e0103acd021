"""UCI Adult (census income), shipped inside the package so that it loads offline.

Becker, B. and Kohavi, R. (1996). *Adult*. UCI Machine Learning Repository.
https://doi.org/10.24432/C5XW20, licensed CC BY 4.0 (see ``data/README.md`` beside this
module). One row is one person of the 1994 US Census extract, so the natural privacy unit is
the row.

Examples
--------
>>> df = load_adult()
>>> df.shape
(32561, 15)
>>> df["income"].value_counts().sort_index().to_dict()
{'<=50K': 24720, '>50K': 7841}
"""

from __future__ import annotations

import gzip
import io
from importlib import resources
from typing import Final, Literal

import pandas as pd

from privet.core.errors import ParameterError

__all__ = ["ADULT_COLUMNS", "ADULT_NUMERIC", "load_adult"]

ADULT_COLUMNS: Final = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
)
"""The 15 columns of Adult, in file order (``adult.names``)."""

ADULT_NUMERIC: Final = (
    "age",
    "fnlwgt",
    "education_num",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
)
"""The integer columns; the others are categorical (strings)."""

_FILES: Final = {"train": "adult.data.gz", "test": "adult.test.gz"}


def load_adult(split: Literal["train", "test"] = "train") -> pd.DataFrame:
    """Return UCI Adult as a pandas DataFrame, read from the files shipped in privet.

    The six numeric columns are ``int64``; the nine others are pandas ``category`` columns
    (strings, leading spaces removed). Missing values (``?`` in the files: workclass,
    occupation, native_country) are NA. The test split's labels lose their trailing dot,
    so both splits label ``income`` as ``'<=50K'`` / ``'>50K'``.

    Parameters
    ----------
    split : {"train", "test"}, default "train"
        ``"train"``: ``adult.data`` (32,561 rows); ``"test"``: ``adult.test`` (16,281 rows).

    Returns
    -------
    pandas.DataFrame
        One row per person, the columns of :data:`ADULT_COLUMNS`.

    Raises
    ------
    ParameterError
        If ``split`` is neither ``"train"`` nor ``"test"``.

    Examples
    --------
    >>> load_adult("test").shape
    (16281, 15)
    >>> int(load_adult()["workclass"].isna().sum())
    1836
    """
    if split not in _FILES:
        raise ParameterError(f"split must be 'train' or 'test', got {split!r}")
    raw = resources.files("privet.datasets").joinpath("data").joinpath(_FILES[split]).read_bytes()
    text = gzip.decompress(raw).decode("ascii")
    frame = pd.read_csv(
        io.StringIO(text),
        header=None,
        names=list(ADULT_COLUMNS),
        skipinitialspace=True,
        na_values=["?"],
        keep_default_na=False,
        comment="|",
        skip_blank_lines=True,
        dtype={c: "int64" for c in ADULT_NUMERIC},
    )
    frame["income"] = frame["income"].str.rstrip(".")
    for col in ADULT_COLUMNS:
        if col not in ADULT_NUMERIC:
            frame[col] = frame[col].astype("category")
    return frame
