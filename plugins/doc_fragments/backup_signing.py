# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """The key that signs backup sidecars, shared by the modules that write or trust backups."""

    DOCUMENTATION = r"""
options:
  backup_signing_key:
    description:
      - Secret that signs each backup's sidecar manifest (HMAC-SHA256) when it is written, and
        authenticates it when a backup is restored, verified, kept by retention or accepted as a
        final backup. Anyone who can write the bucket can replace a backup and its sidecar; without
        this key they cannot make a sidecar that verifies.
      - Keep it outside the bucket (Ansible Vault, an AWX credential) and escrow a copy with the
        disaster-recovery plan - without it, backups cannot be authenticated. At least 16
        characters; use 32 or more random ones.
      - If not set, the environment variable E(ODOO_OPS_BACKUP_SIGNING_KEY) is used.
    type: str
  backup_previous_signing_keys:
    description:
      - Earlier signing keys, still accepted when authenticating (after a key rotation, until the
        backups they signed have expired). New sidecars are always signed with O(backup_signing_key).
    type: list
    elements: str
    default: []
"""
