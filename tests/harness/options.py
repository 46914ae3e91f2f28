"""Module options for the harness's services: the admin role's login, and the object store's."""


def login_options(pg):
    """login_* options of the collection's admin role (CREATEDB/CREATEROLE, not a superuser), over TCP."""
    return {"login_host": "127.0.0.1", "login_port": pg["port"], "login_user": pg["admin_user"],
            "login_password": pg["admin_password"]}


def s3_options(s3):
    return {"s3_endpoint_url": s3["endpoint"], "s3_access_key": s3["access_key"], "s3_secret_key": s3["secret_key"],
            "s3_ca_bundle": s3["ca_file"], "s3_region": s3["region"]}
