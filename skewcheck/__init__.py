"""skewcheck: catch training/serving skew.

Compare the feature values a model was trained on (offline) with the values it was served
(online): row by row when entity keys are given, and always as distributions. Every
skewed feature is flagged with the check that caught it and, where it can be told, the cause.
Also: `audit_point_in_time` finds features from the future in a training set, and `profile`
summarises training data once so later comparisons need not read it again; `read_trend`
lines up the reports of repeated runs, day by day.

>>> import skewcheck
>>> report = skewcheck.compare("offline.parquet", "serving_log.parquet",
...                            keys=["user_id"], timestamp="event_timestamp")  # doctest: +SKIP
>>> report.passed  # doctest: +SKIP
"""

from ._compare import compare
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._model import (
    Cause,
    Diagnosis,
    DomainGap,
    Example,
    FeatureResult,
    Histogram,
    NullRates,
    PitExample,
    PitReport,
    Reason,
    RecomputedFeature,
    RowCounts,
    SkewReport,
    TestResult,
    TimeCheck,
    ValueResult,
    Verdict,
)
from ._pit import audit_point_in_time
from ._profile import (
    FeatureProfile,
    GridHistogram,
    Profile,
    QuantileSummary,
    compare_profile,
    merge_profiles,
    profile,
)
from ._trend import Trend, TrendPoint, read_trend
from ._version import __version__

__all__ = [
    "Cause",
    "Diagnosis",
    "DomainGap",
    "Example",
    "FeatureProfile",
    "FeatureResult",
    "GridHistogram",
    "Histogram",
    "NullRates",
    "PitExample",
    "PitReport",
    "Profile",
    "QuantileSummary",
    "Reason",
    "RecomputedFeature",
    "RowCounts",
    "SkewReport",
    "SkewcheckInputError",
    "SkewcheckWarning",
    "TestResult",
    "TimeCheck",
    "Trend",
    "TrendPoint",
    "ValueResult",
    "Verdict",
    "__version__",
    "audit_point_in_time",
    "compare",
    "compare_profile",
    "merge_profiles",
    "profile",
    "read_trend",
]

# The public types are documented, pickled and shown as skewcheck.X, wherever they are defined.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
