"""privet.datasets: Adult ships inside the package and loads offline; breast cancer via sklearn."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from privet.datasets import ADULT_COLUMNS, ADULT_NUMERIC, load_adult, load_breast_cancer
from privet.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]


def test_adult_train_shape_columns_and_types() -> None:
    df = load_adult()
    assert df.shape == (32_561, 15)
    assert tuple(df.columns) == ADULT_COLUMNS
    for col in ADULT_NUMERIC:
        assert df[col].dtype == "int64"
    for col in set(ADULT_COLUMNS) - set(ADULT_NUMERIC):
        assert isinstance(df[col].dtype, pd.CategoricalDtype)
    assert set(df["income"].cat.categories) == {"<=50K", ">50K"}
    assert df.isna().sum().to_dict() == {
        **{c: 0 for c in ADULT_COLUMNS},
        "workclass": 1836,
        "occupation": 1843,
        "native_country": 583,
    }
    assert not any((df[c] == "?").any() for c in ("workclass", "occupation"))
    assert df["age"].between(17, 90).all()


def test_adult_test_split() -> None:
    df = load_adult("test")
    assert df.shape == (16_281, 15)
    assert set(df["income"].cat.categories) == {"<=50K", ">50K"}  # trailing dots removed


def test_adult_bad_split() -> None:
    with pytest.raises(ParameterError, match="'train' or 'test'"):
        load_adult("validation")  # type: ignore[arg-type]


def test_data_files_and_attribution_ship_in_the_package() -> None:
    data = resources.files("privet.datasets").joinpath("data")
    names = {p.name for p in data.iterdir()}
    assert {"adult.data.gz", "adult.test.gz", "README.md"} <= names
    readme = data.joinpath("README.md").read_text()
    assert "10.24432/C5XW20" in readme
    assert "CC BY 4.0" in readme
    assert "Becker" in readme
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "datasets/data/*" in config["tool"]["setuptools"]["package-data"]["privet"]


def test_breast_cancer() -> None:
    df = load_breast_cancer()
    assert df.shape == (569, 32)
    assert df["patient_id"].is_unique
    assert df["malignant"].sum() == 212
