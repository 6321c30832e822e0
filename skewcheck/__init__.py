"""skewcheck: catch training/serving skew.

Compare the feature values a model was trained on (offline) with the values it was served
(online): row by row when entity keys are given, and always as distributions. Every
skewed feature is flagged with the check that caught it and, where it can be told, the cause.

>>> import skewcheck
>>> report = skewcheck.compare("offline.parquet", "serving_log.parquet",
...                            keys=["user_id"], timestamp="event_timestamp")  # doctest: +SKIP
>>> report.passed  # doctest: +SKIP
"""

from ._compare import compare
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._report import Cause, Diagnosis, FeatureResult, Reason, SkewReport
from ._version import __version__

__all__ = [
    "Cause",
    "Diagnosis",
    "FeatureResult",
    "Reason",
    "SkewReport",
    "SkewcheckInputError",
    "SkewcheckWarning",
    "__version__",
    "compare",
]
