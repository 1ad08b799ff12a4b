"""Creates the recordings bucket if it does not exist and sets its CORS rules (idempotent; run on deploy).

Browsers upload and play recordings straight from S3 with presigned URLs, so the bucket must
accept PUT/GET from the web client's origins: any origin in DEBUG, else the service's own hosts.
"""

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import BaseCommand

from conversation.s3 import s3


def cors_origins() -> list[str]:
    if settings.DEBUG:
        return ["*"]
    origins = [o for o in settings.CORS_ALLOWED_ORIGINS if o.startswith(("http://", "https://"))]
    for host in settings.ALLOWED_HOSTS:
        if host == "*":
            return ["*"]
        # ".example.com" allows its subdomains; S3 takes one "*" per origin.
        origins.append(f"https://*{host}" if host.startswith(".") else f"https://{host}")
    return sorted(set(origins))


def cors_rules() -> dict:
    return {
        "CORSRules": [
            {
                "AllowedOrigins": cors_origins(),
                "AllowedMethods": ["PUT", "GET", "HEAD"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3000,
            }
        ]
    }


class Command(BaseCommand):
    help = "Create the S3 bucket for recordings if missing and allow browser uploads (CORS)."

    def handle(self, *args, **options) -> None:
        try:
            s3().head_bucket(Bucket=settings.S3_BUCKET)
            self.stdout.write(f"bucket ok: {settings.S3_BUCKET}")
        except ClientError:
            s3().create_bucket(Bucket=settings.S3_BUCKET)
            self.stdout.write(f"bucket created: {settings.S3_BUCKET}")
        rules = cors_rules()
        if not rules["CORSRules"][0]["AllowedOrigins"]:
            self.stdout.write("bucket CORS unchanged: no ALLOWED_HOSTS or CORS_ALLOWED_ORIGINS to allow")
            return
        try:
            s3().put_bucket_cors(Bucket=settings.S3_BUCKET, CORSConfiguration=rules)
        except ClientError as exc:
            # A deploy role without s3:PutBucketCORS must not fail the release; the bucket may be managed elsewhere.
            self.stderr.write(f"bucket CORS not set ({exc.response['Error'].get('Code', exc)}): set it on the bucket")
            return
        self.stdout.write(f"bucket CORS: {', '.join(rules['CORSRules'][0]['AllowedOrigins'])}")
