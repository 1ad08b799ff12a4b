"""The S3 client (boto3), shared by every process of the service; one per process."""

from __future__ import annotations

from functools import cache

import boto3
from botocore.client import Config
from django.conf import settings


@cache
def s3():
    return boto3.client(
        "s3",
        endpoint_url=settings.S3_ENDPOINT_URL,
        region_name=settings.AWS_REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
