# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Object storage (S3-compatible) options shared by the modules that read or write backups."""

    DOCUMENTATION = r"""
options:
  s3_endpoint_url:
    description:
      - S3 endpoint, for example V(https://s3.eu-central-1.amazonaws.com) or a MinIO/SeaweedFS URL.
      - If not set, the environment variable E(AWS_ENDPOINT_URL) is used, then AWS's default.
    type: str
  s3_region:
    description:
      - Region. If not set, E(AWS_REGION) or E(AWS_DEFAULT_REGION) is used, then V(us-east-1).
    type: str
  s3_access_key:
    description: Access key. If not set, the environment variable E(AWS_ACCESS_KEY_ID) is used.
    type: str
  s3_secret_key:
    description: Secret key. If not set, the environment variable E(AWS_SECRET_ACCESS_KEY) is used.
    type: str
  s3_ca_bundle:
    description:
      - CA certificates to verify the endpoint with (a private CA). If not set, E(AWS_CA_BUNDLE) is used.
    type: path
  s3_validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  s3_retries:
    description: Attempts per request (standard retry mode, with back-off) for transient errors.
    type: int
    default: 5
requirements:
  - boto3 on the host that runs the module
"""
