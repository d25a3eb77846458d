"""Settings for the whole suite."""

from hypothesis import HealthCheck, settings

# Property tests check behaviour, not speed: on a loaded 2-core CI machine a
# slow example must not fail the run (hypothesis's default deadline is 200 ms).
settings.register_profile("ringfort", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ringfort")
