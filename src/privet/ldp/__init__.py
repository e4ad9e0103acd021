"""privet.ldp: local differential privacy — randomized response and frequency oracles.

Each user randomizes their own answer before it leaves their device; the server learns
population frequencies, never a person's value. See ``docs/ldp.md``.

* :class:`RandomizedResponse` — a yes/no question (the seed's coin flips:
  :meth:`RandomizedResponse.coin_flips`, ε = ln 3), with the unbiased proportion estimate.
* Frequency oracles over d values, each ``(*, epsilon, domain_size)`` with a client
  ``privatize(values, rng=None, budget=None)`` and a server ``aggregate`` / ``estimate``:
  :class:`GRR`, :class:`SUE`, :class:`OUE`, :class:`OLH`, :class:`HadamardResponse`;
  :func:`best_oracle` picks the one of lowest variance.
* :class:`FrequencyEstimate` (counts, variance, intervals) and free post-processing:
  :func:`clip_negatives`, :func:`norm_sub`.

Examples
--------
>>> import numpy as np
>>> from privet.core import SecureRandom
>>> from privet.ldp import best_oracle
>>> oracle = best_oracle(1.0, 1024)
>>> values = np.arange(20_000) % 1024
>>> est = oracle.estimate(oracle.privatize(values, rng=SecureRandom.seeded(0)))
>>> est.counts.shape, round(est.variance)
((1024,), 73833)
"""

from privet.ldp.client import LdpClient, SubmitResult
from privet.ldp.discovery import DiscoveryReports, DiscoveryResult, PrefixDiscovery
from privet.ldp.estimates import FrequencyEstimate, Tally, clip_negatives, norm_sub
from privet.ldp.grr import GRR
from privet.ldp.hadamard import HadamardResponse
from privet.ldp.olh import OLH, HashedReports
from privet.ldp.oracles import FrequencyOracle
from privet.ldp.randomized_response import ProportionEstimate, RandomizedResponse
from privet.ldp.rappor import Rappor, RapporReports
from privet.ldp.rappor_decode import (
    BloomEstimate,
    RapporCounts,
    RapporEstimate,
    decode_rappor,
    detection_frequency,
    estimate_bloom_counts,
)
from privet.ldp.rappor_memo import MemoryPrrMemo, PrrMemo, SqlitePrrMemo
from privet.ldp.selection import best_oracle
from privet.ldp.service import LdpService
from privet.ldp.service_collections import (
    Collection,
    EstimateTable,
    RapporCollection,
    collection_from_config,
)
from privet.ldp.service_oracles import OracleCollection
from privet.ldp.service_store import ReportStore
from privet.ldp.unary import OUE, SUE

__all__ = [
    "GRR",
    "OLH",
    "OUE",
    "SUE",
    "BloomEstimate",
    "Collection",
    "DiscoveryReports",
    "DiscoveryResult",
    "EstimateTable",
    "FrequencyEstimate",
    "FrequencyOracle",
    "HadamardResponse",
    "HashedReports",
    "LdpClient",
    "LdpService",
    "MemoryPrrMemo",
    "OracleCollection",
    "PrefixDiscovery",
    "ProportionEstimate",
    "PrrMemo",
    "RandomizedResponse",
    "Rappor",
    "RapporCollection",
    "RapporCounts",
    "RapporEstimate",
    "RapporReports",
    "ReportStore",
    "SqlitePrrMemo",
    "SubmitResult",
    "Tally",
    "best_oracle",
    "clip_negatives",
    "collection_from_config",
    "decode_rappor",
    "detection_frequency",
    "estimate_bloom_counts",
    "norm_sub",
]
