"""Module options for the harness's services (the admin role's login, the object store's) and an S3 client."""

import hashlib

import boto3
import botocore.config


def login_options(pg):
    """login_* options of the collection's admin role (CREATEDB/CREATEROLE, not a superuser), over TCP."""
    return {"login_host": "127.0.0.1", "login_port": pg["port"], "login_user": pg["admin_user"], "login_password": pg["admin_password"]}


def signing_key(s3):
    """The backup signing key of a test session: derived from the store's secret (it never goes into a bucket)."""
    return hashlib.sha256(b"odoo_ops test backup signing|" + s3["secret_key"].encode()).hexdigest()


def s3_options(s3):
    """The S3 options, and the backup signing key every module of the s3 action group takes."""
    return {
        "s3_endpoint_url": s3["endpoint"],
        "s3_access_key": s3["access_key"],
        "s3_secret_key": s3["secret_key"],
        "s3_ca_bundle": s3["ca_file"],
        "s3_region": s3["region"],
        "backup_signing_key": signing_key(s3),
    }


def s3_client(s3):
    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name=s3["region"],
        verify=s3["ca_file"],
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


def ensure_bucket(s3, bucket):
    """The bucket, with object lock, created when missing."""
    client = s3_client(s3)
    if bucket not in [entry["Name"] for entry in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
