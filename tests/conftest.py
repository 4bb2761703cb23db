"""Hypothesis profiles for the suite, chosen by ``TWOLAYER_HYPOTHESIS_PROFILE`` (default ``dev``).

- ``dev``: 100 examples a property, random, for quick local runs.
- ``ci``: 300 examples, derandomized (the same cases on every run), as nox's ``tests`` runs.
- ``thorough``: 10,000 examples, derandomized, for a deliberate long run of the properties.
- ``mutation``: few examples, derandomized, no shrinking, for mutation testing.

No deadline in any: run-time shape checking (jaxtyping + beartype) makes timings noisy.
"""

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "mutation",
    max_examples=40,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("TWOLAYER_HYPOTHESIS_PROFILE", "dev"))
