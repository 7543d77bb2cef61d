"""AWS's documented naming rules for the values our contracts carry, as regular expressions (for ``fullmatch``).

Each comes from the API reference of the call that uses the value; the contract refuses a value the API would.
"""

from __future__ import annotations

from typing import Final

# CreateBucket: 3-63 characters, lower-case letters, digits, dots and hyphens, starting and ending with a letter or
# digit. A name, not an s3:// URI.
BUCKET_NAME: Final = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
BUCKET_NAME_HELP: Final = "a bucket name (give the name, not an s3:// URI)"
# An account id is 12 digits.
ACCOUNT_ID: Final = r"[0-9]{12}"
# IAM role ARN (arn:<partition>:iam::<account>:role/<path/name>).
ROLE_ARN: Final = r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}"
# SageMaker ModelPackageGroupName.
MODEL_PACKAGE_GROUP: Final = r"[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}"
# A versioned model package ARN (arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>).
# The group follows ModelPackageGroupName's pattern; versions start at 1. An unversioned package ARN is refused.
MODEL_PACKAGE_ARN: Final = (
    r"arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]{9,16}):(?P<account>[0-9]{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<version>[1-9][0-9]{0,9})"
)
MODEL_PACKAGE_ARN_HELP: Final = (
    "a versioned model package ARN (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
)
# DynamoDB CreateTable: 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'.
DYNAMODB_TABLE_NAME: Final = r"[a-zA-Z0-9_.-]{3,255}"
# CodePipeline StartPipelineExecution: the pipeline's name and a pipeline variable's name.
PIPELINE_NAME: Final = r"[A-Za-z0-9.@\-_]{1,100}"
PIPELINE_VARIABLE: Final = r"[A-Za-z0-9@\-_]{1,128}"
# SSM PutParameter's naming constraints: at most 1011 characters (the API's bound counts the parameter's whole ARN,
# so this one is loose); not prefixed with "aws" or "ssm" in any case; a-zA-Z0-9_.- only, either flat or a hierarchy
# with a leading slash and at most 15 levels. A name, not an ARN.
SSM_PARAMETER_NAME: Final = r"(?=.{1,1011}\Z)(?!/?(?i:aws|ssm))(?:[a-zA-Z0-9_.\-]+|(?:/[a-zA-Z0-9_.\-]+){1,15})"
