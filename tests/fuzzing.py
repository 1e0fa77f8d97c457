"""Hypothesis settings for the fuzz tests: brief in `make test`, 500 examples or more in `make fuzz`.

Use `@fuzz_settings` on a fuzz test (and mark it `pytest.mark.fuzz`); other property tests keep Hypothesis' defaults.
The form fuzzers use `form_fuzz_settings`: 200 examples under `make fuzz`, which keeps CI's fuzzing run near ten
minutes (each example there is a whole page round trip with a snapshot of every table before and after).
"""
import os

from hypothesis import HealthCheck, settings

_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
           HealthCheck.filter_too_much]
settings.register_profile("quick", max_examples=40, deadline=None, suppress_health_check=_HEALTH)
settings.register_profile("fuzz", max_examples=500, deadline=None, suppress_health_check=_HEALTH)

fuzz_settings = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))
form_fuzz_settings = settings(fuzz_settings, max_examples=min(fuzz_settings.max_examples, 200))
