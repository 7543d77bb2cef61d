"""Model package ARNs, as the registry's events carry them and the promotion parameters store them."""

from __future__ import annotations

import re

# A versioned model package: arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>.
# The group follows ModelPackageGroupName's pattern; an unversioned package (no "/<version>") cannot be promoted.
PACKAGE_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]{9,16}):(?P<account>[0-9]{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<version>[1-9][0-9]{0,9})"
)


def same_package(a: str, b: str) -> bool:
    """Whether two ARNs name one package. SageMaker lowercases the group in some of its ARNs, and every other part
    is lowercase or digits, so the comparison ignores case."""
    return a.lower() == b.lower()
