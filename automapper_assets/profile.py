"""The active training profile (configs/profiles.toml), resolved once when the definitions load.

A profile is a definition-time choice, like the code location itself: each training asset's code
version must name the preset it trains, so this is the one place that reads AUTOMAPPER_PROFILE
before a run starts. The main job sets it from `--profile`; `dagster dev` and the nightly schedule
inherit it from the environment they start in (unset: the file's default, the demo profile).
"""

import os

from automapper_ml.training.profiles import Profile, load_profile

PROFILE_ENV = "AUTOMAPPER_PROFILE"


def active_profile() -> Profile:
    """The profile named by $AUTOMAPPER_PROFILE, else configs/profiles.toml's default."""
    return load_profile(os.environ.get(PROFILE_ENV) or None)
