"""Creates the recordings bucket if missing, sets its CORS rules and its lifecycle (idempotent; run on deploy).

Browsers upload (presigned POST) and play recordings straight from S3, so the bucket must accept
POST/GET from the web client's origins: any origin in DEBUG, else the service's own hosts. Uploads
never completed are deleted by the `sweep-recording-uploads` beat task, and by S3 itself after a day.
"""

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import BaseCommand

from conversation.s3 import s3

UPLOADS_EXPIRE_DAYS = 1


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
                "AllowedMethods": ["POST", "GET", "HEAD"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3000,
            }
        ]
    }


def lifecycle_rules() -> dict:
    """Belt and braces for the beat task: whatever lies under uploads/ for a day was never kept."""
    return {
        "Rules": [
            {
                "ID": "expire-uploads",
                "Filter": {"Prefix": "uploads/"},
                "Status": "Enabled",
                "Expiration": {"Days": UPLOADS_EXPIRE_DAYS},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": UPLOADS_EXPIRE_DAYS},
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
        self.set_lifecycle()
        self.set_cors()

    def set_lifecycle(self) -> None:
        try:
            s3().put_bucket_lifecycle_configuration(Bucket=settings.S3_BUCKET, LifecycleConfiguration=lifecycle_rules())
        except ClientError as exc:
            code = exc.response["Error"].get("Code", exc)
            self.stderr.write(f"bucket lifecycle not set ({code}): set it on the bucket")
            return
        self.stdout.write(f"bucket lifecycle: uploads/ expire after {UPLOADS_EXPIRE_DAYS} day")

    def set_cors(self) -> None:
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
