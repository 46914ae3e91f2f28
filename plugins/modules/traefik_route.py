#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: traefik_route
short_description: Route an Odoo tenant's host names through Traefik
version_added: 0.1.0
description:
  - Manages the Traefik routes of one tenant - its C(Host) rules, C(/websocket) to Odoo's gevent
    port, the database manager blocked, security headers, TLS and per-tenant limits.
  - With O(provider=file), writes one YAML file per tenant into Traefik's file provider directory,
    atomically (temporary file in the same directory, then rename), and by default waits until
    Traefik's API shows every router of the tenant enabled and its routers, services and middlewares
    exactly as written. When Traefik does not confirm them within O(wait_timeout), or disables them,
    the previous file is put back (or the new one removed when there was none) before the task fails,
    so that the directory every tenant shares stays loadable.
  - With O(provider=kubernetes), renders C(IngressRoute), C(Middleware) (and C(TraefikService))
    objects of C(traefik.io/v1alpha1) and returns them in RV(resources); apply them with
    M(kubernetes.core.k8s). Nothing is written and C(changed) is always false.
  - Refuses, changing nothing, any value Traefik would not parse - Traefik's file provider refuses the
    whole directory, every tenant's routes with it, when one value of one file is bad. Checked before
    anything is written - names (full matches, no trailing newline or control character), host names
    (lower-case RFC 1123), URLs, Go durations, integers and their ranges, header names and values (no CR,
    LF or other control characters), paths, CIDRs; entry points also against Traefik's API when it
    answers. Also refused - a host name or a router, service or middleware name another file already
    defines, a directory or an existing tenant file that others can write, and an unwritable directory.
  - Requests whose path holds an encoded separator (C(%2F), C(%5C), C(%25), C(%00), or a backslash) are
    answered 403 for the tenant's hosts - Odoo decodes them, Traefik's path rules do not; see the
    collection's C(docs/traefik-routing.md).
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
attributes:
  check_mode:
    details: Computes the same plan as a real run and reports it; writes nothing and does not wait.
  diff_mode:
    support: full
    details: Shows the tenant's YAML file before and after.
options:
  name:
    description:
      - The tenant id; names the file (V(<name>.yml)) and prefixes every router, service and middleware.
      - 1 to 63 characters - lower-case letters, digits, V(-) and V(_), starting with a letter.
        In Kubernetes object names V(_) becomes V(-).
    type: str
    required: true
  state:
    description: Whether the tenant's routes exist.
    type: str
    choices: [present, absent]
    default: present
  hosts:
    description:
      - The tenant's fully qualified host names (lower case, no port). Required with O(state=present).
    type: list
    elements: str
  backend_url:
    description:
      - Odoo's HTTP port, for example V(http://127.0.0.1:8069). Several URLs are load-balanced.
      - With O(provider=kubernetes), V(http://<service>[.<namespace>]:<port>) names a Kubernetes Service.
      - Required with O(state=present).
    type: list
    elements: str
  websocket_url:
    description:
      - Odoo's gevent port (C(gevent_port), default 8072). Requests to C(/websocket) go there.
      - When omitted, C(/websocket) goes to O(backend_url), which is right only for an Odoo with
        C(workers = 0).
    type: list
    elements: str
  provider:
    description: Where the routes go - Traefik's file provider, or Kubernetes CRD objects.
    type: str
    choices: [file, kubernetes]
    default: file
  dynamic_dir:
    description: The file provider's directory (Traefik's C(providers.file.directory)). Must exist.
    type: path
  mode:
    description:
      - Permissions of the tenant's file, an octal string (quote it in YAML).
      - Write permission for group or others, execute permission and setuid, setgid or sticky bits are
        refused - anyone who can rewrite a file in the directory can take routing away from every tenant.
    type: str
    default: "0644"
  namespace:
    description: Namespace of the rendered Kubernetes objects (an RFC 1123 label; checked with every provider).
    type: str
    default: default
  entrypoints:
    description:
      - Traefik entry points of the tenant's routers.
      - Defaults to V([web]), or V([websecure]) when O(tls) is set.
      - With O(provider=file), checked against Traefik's API (C(/api/entrypoints)) when O(wait) is set
        or O(api_url) is given; an unknown name is refused, and the message lists the known ones.
    type: list
    elements: str
  tls:
    description:
      - Serve the tenant over TLS. An empty dict uses Traefik's default certificate.
    type: dict
    suboptions:
      cert_resolver:
        description: Name of a certificate resolver (ACME) of Traefik's static configuration.
        type: str
      secret_name:
        description: Kubernetes TLS secret holding the certificate (O(provider=kubernetes)).
        type: str
      redirect_from:
        description:
          - Entry points whose plain HTTP requests for the tenant's hosts are redirected to HTTPS.
          - An empty list disables the redirect.
        type: list
        elements: str
        default: [web]
  block_database_manager:
    description:
      - Answer 403 to Odoo's database manager (C(/web/database/*), C(/xmlrpc/db), C(/xmlrpc/2/db))
        for every client not in O(database_manager_allow).
    type: bool
    default: true
  database_manager_allow:
    description: Source addresses or CIDR ranges that may reach the database manager.
    type: list
    elements: str
    default: []
  rate_limit:
    description:
      - Request rate limit; beyond it Traefik answers 429.
    type: dict
    suboptions:
      average:
        description: Requests allowed per O(rate_limit.period) on average (at least 1).
        type: int
        required: true
      burst:
        description: Requests allowed at once above the average (at least 1). Defaults to O(rate_limit.average).
        type: int
      period:
        description:
          - The period of O(rate_limit.average), a positive Go duration such as V(1s), V(1m30s) or V(500ms)
            (units V(ns), V(us), V(ms), V(s), V(m), V(h); no sign, no space).
        type: str
        default: 1s
      by:
        description:
          - V(host) gives the tenant one budget per host name (noisy-neighbour protection);
            V(client_ip) gives every client address its own budget.
        type: str
        choices: [host, client_ip]
        default: host
  inflight_limit:
    description:
      - Requests in flight at once for the tenant (per host name, at least 1); beyond it Traefik answers 429.
      - Not applied to C(/websocket), whose connections stay open.
    type: int
  maintenance:
    description:
      - Answer 503 for every request of this tenant (suspension, incidents), leaving other tenants alone.
    type: bool
    default: false
  headers:
    description: Security headers added to the tenant's responses.
    type: dict
    suboptions:
      enabled:
        description: Add the headers at all.
        type: bool
        default: true
      hsts_seconds:
        description: C(Strict-Transport-Security) max-age, sent only when O(tls) is set. V(0) disables it.
        type: int
        default: 31536000
      hsts_include_subdomains:
        description: Add C(includeSubDomains) to C(Strict-Transport-Security).
        type: bool
        default: false
      content_type_nosniff:
        description: Send C(X-Content-Type-Options nosniff).
        type: bool
        default: true
      frame_options:
        description:
          - C(X-Frame-Options) value. Odoo frames its own pages (reports, website editor), hence
            V(SAMEORIGIN) rather than V(DENY). V(NONE) sends no header.
        type: str
        default: SAMEORIGIN
      referrer_policy:
        description: C(Referrer-Policy) value.
        type: str
        default: strict-origin-when-cross-origin
      custom_response:
        description:
          - More response headers, name to value. Names are HTTP tokens; values visible ASCII characters and
            inner spaces (no CR, LF, tab or other control character). An empty value removes the header.
        type: dict
  health_check_path:
    description:
      - Path Traefik polls on each back-end server to take unhealthy ones out of rotation
        (Odoo answers C(/web/health) since 15.0). An empty string disables health checks.
      - A path starting with V(/), RFC 3986 characters only (no space or control character).
    type: str
    default: /web/health
  wait:
    description:
      - Return only when Traefik's API shows every router of the tenant enabled, and its routers,
        services and middlewares as written (O(state=present)), or the routers gone (O(state=absent)).
      - When a written file is not confirmed, the previous file is restored (or the new one removed) and
        the task fails with RV(restored=true). A removal that is not confirmed is not undone.
      - With V(false) nothing is confirmed and nothing is undone - only the checks before writing protect
        the directory.
      - Only for O(provider=file).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for Traefik to confirm the routes (1 to 3600).
    type: int
    default: 30
  api_url:
    description:
      - Traefik's API (the C(traefik) entry point), used by O(wait).
      - If not set, the environment variable E(TRAEFIK_API_URL) is used, then V(http://127.0.0.1:8080).
    type: str
  api_username:
    description:
      - User for Traefik's API when it sits behind basic authentication.
      - If not set, the environment variable E(TRAEFIK_API_USERNAME) is used.
    type: str
  api_password:
    description:
      - Password for O(api_username).
      - If not set, the environment variable E(TRAEFIK_API_PASSWORD) is used.
    type: str
  validate_certs:
    description: Verify the TLS certificate of an C(https) O(api_url).
    type: bool
    default: true
notes:
  - A tenant's routers are named C(<name>-web), C(<name>-websocket), C(<name>-dbmanager),
    C(<name>-encoded) and C(<name>-redirect); services C(<name>-http), C(<name>-websocket),
    C(<name>-maintenance); middlewares C(<name>-headers), C(<name>-ratelimit), C(<name>-inflight),
    C(<name>-dbmanager-allow), C(<name>-deny), C(<name>-https-redirect).
  - The path rules cannot see a request's body - C(/jsonrpc) with the C(db) service is protected by
    Odoo itself - run it with C(list_db = False) (every database manager call then raises AccessDenied)
    and a strong, hashed C(admin_passwd).
  - Odoo must run with C(proxy_mode = True) behind Traefik, which sets C(X-Forwarded-Host).
seealso:
  - name: Traefik file provider
    description: How Traefik reads dynamic configuration from a directory.
    link: https://doc.traefik.io/traefik/providers/file/
"""

EXAMPLES = r"""
- name: Route tenant acme (two host names, websocket to the gevent port, limits)
  sysgenpro.odoo_ops.traefik_route:
    name: acme
    hosts: [acme.erp.example.com, erp.acme-build.com]
    backend_url: http://10.0.0.11:8069
    websocket_url: http://10.0.0.11:8072
    dynamic_dir: /etc/traefik/dynamic
    api_url: http://127.0.0.1:8080
    tls:
      cert_resolver: letsencrypt
    database_manager_allow: [192.0.2.0/24]
    rate_limit: {average: 50, burst: 100}
    inflight_limit: 40

- name: Put tenant acme in maintenance (503 for acme only)
  sysgenpro.odoo_ops.traefik_route:
    name: acme
    hosts: [acme.erp.example.com, erp.acme-build.com]
    backend_url: http://10.0.0.11:8069
    dynamic_dir: /etc/traefik/dynamic
    maintenance: true

- name: Remove tenant acme's routes and wait until Traefik dropped them
  sysgenpro.odoo_ops.traefik_route:
    name: acme
    state: absent
    dynamic_dir: /etc/traefik/dynamic

- name: Render Kubernetes objects for tenant acme
  sysgenpro.odoo_ops.traefik_route:
    name: acme
    provider: kubernetes
    namespace: odoo
    hosts: [acme.erp.example.com]
    backend_url: http://odoo-web.odoo:8069
    websocket_url: http://odoo-gevent.odoo:8072
    tls: {secret_name: acme-tls}
  register: acme_routes

- name: Apply them
  kubernetes.core.k8s:
    definition: "{{ item }}"
  loop: "{{ acme_routes.resources }}"
"""

RETURN = r"""
steps:
  description: What is done to the tenant's file (C(write <path>) or C(remove <path>)); empty when it is as wanted, and for O(provider=kubernetes).
  returned: always
  type: list
  elements: str
  sample: ["write /etc/traefik/dynamic/acme.yml"]
path:
  description: The tenant's file (O(provider=file)).
  returned: provider is file
  type: str
  sample: /etc/traefik/dynamic/acme.yml
routers:
  description: The tenant's routers as Traefik names them (for O(state=absent), those removed).
  returned: always
  type: list
  elements: str
  sample: [acme-dbmanager@file, acme-encoded@file, acme-web@file, acme-websocket@file]
live:
  description:
    - True when Traefik's API confirmed the routes as written (or their removal).
    - False when not waited for (O(wait=false), check mode, O(provider=kubernetes)).
  returned: always
  type: bool
  sample: true
diff:
  description: The tenant's YAML file before and after (empty for O(provider=kubernetes)).
  returned: always
  type: dict
  sample: {before: "", after: "http:\n  routers: ...", before_header: /etc/traefik/dynamic/acme.yml}
resources:
  description: The rendered Kubernetes objects (O(provider=kubernetes)).
  returned: provider is kubernetes
  type: list
  elements: dict
config:
  description: The dynamic configuration written for the tenant (O(provider=file), O(state=present)).
  returned: provider is file and state is present
  type: dict
restored:
  description:
    - True when the file written was not confirmed by Traefik and the previous file was put back (or
      the new file removed, when there was none before); the task then fails and C(changed) is false.
  returned: provider is file
  type: bool
  sample: false
traefik:
  description:
    - What Traefik's API showed last when the routes were not confirmed - each router, service and
      middleware (or null when unknown), those not as written (C(pending)), those Traefik disabled
      (C(refused)), and C(api_error) when the API did not answer.
  returned: when the routes were not confirmed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import plan_result
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.file_route import FileRoute
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.api import TraefikApi
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.config import RouteSpec, kubernetes_objects
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_int

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    hosts=dict(type="list", elements="str"),
    backend_url=dict(type="list", elements="str"),
    websocket_url=dict(type="list", elements="str"),
    provider=dict(type="str", choices=["file", "kubernetes"], default="file"),
    dynamic_dir=dict(type="path"),
    mode=dict(type="str", default="0644"),
    namespace=dict(type="str", default="default"),
    entrypoints=dict(type="list", elements="str"),
    tls=dict(
        type="dict",
        options=dict(
            cert_resolver=dict(type="str"),
            secret_name=dict(type="str"),
            redirect_from=dict(type="list", elements="str", default=["web"]),
        ),
    ),
    block_database_manager=dict(type="bool", default=True),
    database_manager_allow=dict(type="list", elements="str", default=[]),
    rate_limit=dict(
        type="dict",
        options=dict(
            average=dict(type="int", required=True),
            burst=dict(type="int"),
            period=dict(type="str", default="1s"),
            by=dict(type="str", choices=["host", "client_ip"], default="host"),
        ),
    ),
    inflight_limit=dict(type="int"),
    maintenance=dict(type="bool", default=False),
    headers=dict(
        type="dict",
        options=dict(
            enabled=dict(type="bool", default=True),
            hsts_seconds=dict(type="int", default=31536000),
            hsts_include_subdomains=dict(type="bool", default=False),
            content_type_nosniff=dict(type="bool", default=True),
            frame_options=dict(type="str", default="SAMEORIGIN"),
            referrer_policy=dict(type="str", default="strict-origin-when-cross-origin"),
            custom_response=dict(type="dict"),
        ),
    ),
    health_check_path=dict(type="str", default="/web/health"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=30),
    api_url=dict(type="str", fallback=(env_fallback, ["TRAEFIK_API_URL"])),
    api_username=dict(type="str", fallback=(env_fallback, ["TRAEFIK_API_USERNAME"])),
    api_password=dict(type="str", no_log=True, fallback=(env_fallback, ["TRAEFIK_API_PASSWORD"])),
    validate_certs=dict(type="bool", default=True),
)


def ensure_route(params, check_mode):
    """The route's plan (check mode) or its result once live; refusals, the file system and the API
    fail with their message (a write Traefik did not confirm is undone: RouteFailed)."""
    spec = RouteSpec(params) if params["state"] == "present" else None
    if params["provider"] == "kubernetes":
        if spec is None:
            raise Refused("provider=kubernetes renders objects for state=present only; delete them with kubernetes.core.k8s")
        return plan_result(dict(live=False, routers=[], resources=kubernetes_objects(spec)), False, [], {}, {})
    check_int(params["wait_timeout"], "wait_timeout", 1, 3600)
    api = TraefikApi(params["api_url"] or "http://127.0.0.1:8080", params["api_username"], params["api_password"], params["validate_certs"])
    route = FileRoute(params["dynamic_dir"], params["name"], params["mode"])
    result, warnings = route.ensure(
        spec,
        api,
        check_mode=check_mode,
        wait=params["wait"],
        timeout=params["wait_timeout"],
        check_entrypoints=params["wait"] or bool(params["api_url"]),
    )
    return dict(result, warnings=warnings)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("state", "present", ("hosts", "backend_url")), ("provider", "file", ("dynamic_dir",))],
        supports_check_mode=True,
    )
    needs = ["PyYAML"] if module.params["provider"] == "file" else []
    run_module(module, lambda resources: ensure_route(module.params, module.check_mode), needs=needs)


if __name__ == "__main__":
    main()
