#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: traefik_host_check
short_description: Check that hosts answer through Traefik with the status they should, all at once
version_added: 0.1.0
description:
  - Sends one C(GET) per entry of O(checks) to the entry point O(url) with the entry's C(Host) header (no
    redirect followed) and compares the status with the one expected - for example that each tenant's host
    answers C(/web/login) with 200 and its database manager with 403.
  - The requests run in parallel (at most O(workers) at a time), each bounded by O(timeout); one task checks a
    whole platform in about the time of its slowest answer.
  - Fails, listing every host that did not answer as it should (its status, or the error), when one did not.
  - With O(watch), it measures instead - every O(watch.interval) each check once, for as long as
    O(watch.while_file) exists (at most O(watch.max_seconds)) - and returns what users of each host saw,
    never failing for it - for example a tenant's downtime during its update (run it with C(async), remove the file
    to stop it, C(release_promote.yml) does so).
  - Read-only.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
attributes:
  check_mode:
    details: Read-only; the same requests in check mode.
options:
  url:
    description: The entry point, C(http://) or C(https://) with host and port, without a path.
    type: str
    required: true
  checks:
    description: The requests, at most 500.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: The C(Host) header (a host name Traefik routes).
        type: str
        required: true
      path:
        description: The path requested.
        type: str
        default: /web/login
      status:
        description: The status the host should answer with.
        type: int
        default: 200
  timeout:
    description: Seconds each request may take (connection, then each read), 1-300.
    type: int
    default: 10
  workers:
    description: Requests at the same time, 1-32.
    type: int
    default: 8
  validate_certs:
    description: Verify the entry point's certificate (C(https://)).
    type: bool
    default: true
  watch:
    description: Measure over time instead of checking once (see the description).
    type: dict
    suboptions:
      while_file:
        description: The watch goes on while this file exists.
        type: path
        required: true
      max_seconds:
        description: The bound of the watch, whatever happens to the file (1-86400).
        type: int
        default: 3600
      interval:
        description: Seconds between two rounds of requests (0.05-60).
        type: float
        default: 0.2
"""

EXAMPLES = r"""
- name: Each host answers through Traefik, and the database manager is closed
  sysgenpro.odoo_ops.traefik_host_check:
    url: http://127.0.0.1:80
    checks:
      - {host: acme.example.com}
      - {host: www.acme.example.com}
      - {host: acme.example.com, path: /web/database/manager, status: 403}
  register: answered

- name: Over TLS, a certificate the host does not trust
  sysgenpro.odoo_ops.traefik_host_check:
    url: https://127.0.0.1:443
    checks:
      - {host: acme.example.com}
    validate_certs: false
"""

RETURN = r"""
steps:
  description: Always empty - the module only reads.
  returned: always
  type: list
  elements: str
  sample: []
diff:
  description: Empty - the module only reads.
  returned: always
  type: dict
  sample: {before: {}, after: {}}
hosts:
  description: One answer per entry of O(checks), in the same order (also when the module fails).
  returned: without O(watch)
  type: list
  elements: dict
  contains:
    host:
      description: The C(Host) header sent.
      type: str
    path:
      description: The path requested.
      type: str
    status:
      description: The status answered, or null when no answer came.
      type: int
    expected:
      description: The status expected.
      type: int
    error:
      description: Why no answer came (connection refused, timed out), or null.
      type: str
    ok:
      description: Whether the status is the one expected.
      type: bool
  sample: [{host: acme.localhost, path: /web/login, status: 200, expected: 200, error: null, ok: true}]
watched:
  description:
    - With O(watch), the watch - seconds, interval, and per check (in the order of O(checks)) host, path, requests,
      failed, statuses (status - count; C(no answer) for none), first_failure and last_failure (seconds from the
      start, or null) and downtime_seconds (last failure minus first).
  returned: with O(watch)
  type: dict
  sample: {seconds: 12.4, interval: 0.2, hosts: [{host: acme.localhost, path: /web/login, requests: 60, failed: 31,
           statuses: {"200": 29, "503": 31}, first_failure: 2.1, last_failure: 8.3, downtime_seconds: 6.2}]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.host_check import check_hosts, watch_hosts

ARGUMENT_SPEC = dict(
    url=dict(type="str", required=True),
    checks=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(host=dict(type="str", required=True), path=dict(type="str", default="/web/login"), status=dict(type="int", default=200)),
    ),
    timeout=dict(type="int", default=10),
    workers=dict(type="int", default=8),
    validate_certs=dict(type="bool", default=True),
    watch=dict(
        type="dict",
        options=dict(
            while_file=dict(type="path", required=True),
            max_seconds=dict(type="int", default=3600),
            interval=dict(type="float", default=0.2),
        ),
    ),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def work(_resources):
        params = module.params
        if params["watch"]:
            watch = params["watch"]
            watched = watch_hosts(
                params["url"],
                params["checks"],
                watch["while_file"],
                watch["max_seconds"],
                watch["interval"],
                params["timeout"],
                params["workers"],
                params["validate_certs"],
            )
            return Plan(report=dict(watched=watched)).result()
        answers = check_hosts(params["url"], params["checks"], params["timeout"], params["workers"], params["validate_certs"])
        return Plan(report=dict(hosts=answers)).result()  # read-only: no step

    run_module(module, work)


if __name__ == "__main__":
    main()
