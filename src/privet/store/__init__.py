"""privet.store: the persisted privacy ledger.

A :class:`Ledger` is one SQLite file of named budgets. Each :class:`Budget` has an (ε, δ)
limit and a privacy filter valid under fully adaptive composition
(:mod:`privet.accounting.filters`); :meth:`Budget.charge` records a :class:`Charge` before
any noise is drawn, or refuses it and records nothing. See :mod:`privet.store.ledger`.

Examples
--------
>>> import os, tempfile
>>> from privet.accounting.events import GaussianEvent
>>> with Ledger(os.path.join(tempfile.mkdtemp(), "ledger.sqlite")) as ledger:
...     training = ledger.budget("training", epsilon=8.0, delta=1e-5)
...     charge = training.charge(GaussianEvent(noise_multiplier=2.0), label="one release")
...     training.filter, round(charge.epsilon, 3)
('rdp', 2.828)
"""

from privet.store.budget import Budget
from privet.store.ledger import Ledger
from privet.store.records import Charge, LimitChange

__all__ = ["Budget", "Charge", "Ledger", "LimitChange"]
