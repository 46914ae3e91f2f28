"""SQL in tests, straight to the harness's PostgreSQL (never through the collection's client, whose
behaviour the tests check): a session that closes, and the rows of one statement."""

import contextlib

import psycopg2


def connect(login, dbname="postgres"):
    """An autocommit session (login: psycopg2 keyword arguments) that closes at the end of a with
    block (psycopg2's own only ends the transaction)."""
    conn = psycopg2.connect(dbname=dbname, **login)
    conn.autocommit = True
    return contextlib.closing(conn)


def query(env, statement, args=None, dbname="postgres"):
    """The rows of one statement as env's superuser (env["superuser"]: psycopg2 keyword arguments);
    [] for a statement that returns none."""
    with connect(env["superuser"], dbname) as conn, conn.cursor() as cur:
        cur.execute(statement, args)
        return cur.fetchall() if cur.description else []
