"""Suite-wide test settings.

Hypothesis' per-example deadline (200 ms by default) is a timing assertion: on a loaded
2-core CI machine an ordinary example can exceed it and fail a correct test. The suite's
profile turns it off; the number of examples stays each test's own choice.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("privet", deadline=None)
settings.load_profile("privet")
