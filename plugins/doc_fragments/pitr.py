# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Point-in-time recovery options shared by pg_pitr_restore and pg_pitr_tenant."""

    DOCUMENTATION = r"""
options:
  stanza:
    description: The pgBackRest stanza of the source cluster.
    type: str
  pgbackrest_config:
    description: pgBackRest's configuration file (as the C(pg_backup) role writes it). Falls back to E(PGBACKREST_CONFIG).
    type: path
  pgbackrest_options:
    description:
      - Ordinary repository options instead of, or over, the configuration file - pgBackRest option
        names without dashes in front (C(repo1-s3-endpoint), C(repo1-path), C(process-max)). They are
        passed as C(PGBACKREST_*) environment variables, never on a command line, and are shown in
        results and C(-vvv) output like any parameter. Booleans become C(y)/C(n).
      - A secret-looking name (C(*-pass), C(*-passphrase), C(*-key), C(*-key-secret), C(*-secret),
        C(*-token), such as C(repo1-cipher-pass) or C(repo1-s3-key-secret)) is refused here; give it in
        O(pgbackrest_secrets). (Ansible logs a module's ordinary parameters to the target's journal
        before the module runs, so a secret must never be an ordinary parameter.)
    type: dict
    default: {}
  pgbackrest_secrets:
    description:
      - Secret repository options, as in O(pgbackrest_options) (C(repo1-cipher-pass), C(repo1-s3-key),
        C(repo1-s3-key-secret), C(repo1-s3-token)). C(no_log) - their values are masked in results, errors
        and C(-vvv) output, and never written on a command line.
      - Alternatively keep them in the configuration file, or set C(PGBACKREST_REPO1_CIPHER_PASS) and the
        like in the module's environment (for example from an AWX credential) - pgBackRest reads them itself.
    type: dict
    default: {}
  pgbackrest_path:
    description: The C(pgbackrest) program.
    type: path
  target:
    description: The recovery target.
    type: dict
    required: true
    suboptions:
      type:
        description: What the target is; C(immediate) is the end of the backup, C(latest) the end of the archive.
        type: str
        required: true
        choices: [time, lsn, xid, name, immediate, latest]
      value:
        description:
          - The time, LSN (C(0/1A2B3C4D)), transaction id or restore point name. None for C(immediate)
            and C(latest).
          - "A time is ISO 8601 with its date, hours, minutes and zone: C(YYYY-MM-DD), C(T) or one space,
            C(HH:MM[:SS[.ffffff]]), then C(Z) or an offset (C(+01:00), C(+0100), C(+01)), such as
            C(2026-11-23T09:59:30+01:00). Refused because ambiguous - a date alone, an hour without minutes,
            no zone, white space around it, more than six decimals, week or ordinal dates, offsets no zone
            uses (outside -12:00 to +14:00), instants before 1970."
          - A restore point name holds no quote, backslash or control character (pgBackRest writes it unescaped).
        type: str
      inclusive:
        description: Stop just after the target (V(true)) or just before it.
        type: bool
        default: true
      timeline:
        description: C(current) (the backup's own, so an earlier restore's timeline is not followed by accident), C(latest) or a number.
        type: str
        default: current
  backup_set:
    description: The backup to restore (its pgBackRest label). Chosen for time and LSN targets; required for xid and name.
    type: str
  switch_wal_conninfo:
    description:
      - libpq connection string of the live primary. Before restoring, the module commits one empty
        transaction there (recovery to a time stops at the first commit after the target, so one
        must exist in the archive), switches its WAL segment and waits until it is archived, so a
        recent target is covered.
    type: str
  wait_timeout:
    description: Seconds allowed for each of the restore, the WAL switch and the recovery (at least 1).
    type: int
    default: 1800
  copy_user:
    description: Role the module connects as to the restored server, through its Unix socket (the cluster's superuser).
    type: str
    default: postgres
  pg_bin_dir:
    description: Folder of PostgreSQL's programs (C(pg_ctl), C(pg_dump), C(pg_restore)).
    type: path
    default: /usr/lib/postgresql/15/bin
"""
