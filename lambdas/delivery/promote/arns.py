"""Model package ARNs, as the registry's events carry them and the promotion parameters store them."""

from __future__ import annotations

import re

from esteira_contracts.aws_names import MODEL_PACKAGE_ARN

# A versioned model package (its region, account, group and version as named groups), as the launcher's contract
# checks MODEL_PACKAGE_ARN.
PACKAGE_ARN = re.compile(MODEL_PACKAGE_ARN)


def same_package(a: str, b: str) -> bool:
    """Whether two ARNs name one package. SageMaker lowercases the group in some of its ARNs, and every other part
    is lowercase or digits, so the comparison ignores case."""
    return a.lower() == b.lower()
