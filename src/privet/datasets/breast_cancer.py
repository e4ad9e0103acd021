"""The Wisconsin diagnostic breast cancer data (through scikit-learn), one row per patient.

Street, Wolberg, Mangasarian 1993, "Nuclear feature extraction for breast tumor diagnosis";
UCI Machine Learning Repository, https://doi.org/10.24432/C5DW2B (CC BY 4.0). scikit-learn
ships the file; this module only shapes it as a table with a patient column, the seed's
cancer-prognosis case.

Examples
--------
>>> df = load_breast_cancer()
>>> df.shape
(569, 32)
>>> df.columns[:2].tolist(), df.columns[-1]
(['patient_id', 'mean radius'], 'malignant')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["load_breast_cancer"]


def load_breast_cancer() -> pd.DataFrame:
    """Return the breast cancer data as a DataFrame with a synthetic ``patient_id``.

    Columns: ``patient_id`` (``"P0000"`` … ``"P0568"``, one per row: the privacy unit),
    the 30 float features of :func:`sklearn.datasets.load_breast_cancer`, and
    ``malignant`` (``int64``: 1 for malignant, 0 for benign; scikit-learn's own target
    codes 0 as malignant, hence the flip).

    Returns
    -------
    pandas.DataFrame
        569 rows, 32 columns.

    Examples
    --------
    >>> int(load_breast_cancer()["malignant"].sum())
    212
    """
    from sklearn.datasets import load_breast_cancer as _sk_load

    bunch = _sk_load()
    features = pd.DataFrame(np.asarray(bunch.data), columns=list(bunch.feature_names))
    target = np.asarray(bunch.target, dtype=np.int64)
    ids = pd.Series([f"P{i:04d}" for i in range(len(features))], name="patient_id")
    malignant = pd.Series(1 - target, name="malignant")
    return pd.concat([ids, features, malignant], axis=1)
