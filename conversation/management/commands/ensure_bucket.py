"""Creates the recordings bucket if it does not exist (idempotent; run on deploy)."""

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import BaseCommand

from sessions_app.services.recording import s3


class Command(BaseCommand):
    help = "Create the S3 bucket for recordings if missing."

    def handle(self, *args, **options) -> None:
        try:
            s3().head_bucket(Bucket=settings.S3_BUCKET)
            self.stdout.write(f"bucket ok: {settings.S3_BUCKET}")
        except ClientError:
            s3().create_bucket(Bucket=settings.S3_BUCKET)
            self.stdout.write(f"bucket created: {settings.S3_BUCKET}")
