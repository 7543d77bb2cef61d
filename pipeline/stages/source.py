"""Stage source: count the spec's rows in the source the extraction will read.

A user's source (--source-url, --source-sqlite) is only read, in a read-only session. Only the demo source is
written: the embedded SQLite file, or the database named with --load-demo, gets the demo tables if missing and
--change-rows' updates.
"""

from __future__ import annotations

from pipeline import aws
from pipeline import source as sources
from pipeline.context import RunContext, need


def run(ctx: RunContext) -> None:
    opts = ctx.options
    spec = need(ctx.spec, "loaded spec")
    select_sql = spec.extraction.source.select_sql()
    what = "demo source database" if opts.demo_source else "the source, read only"
    with ctx.progress.stage("source", what) as st:
        if opts.source_url:
            url = sources.PostgresUrl.parse(opts.source_url)
            if opts.load_demo:
                state = sources.postgres_demo_source(
                    url, opts.rows, opts.seed, opts.change_rows, select_sql, opts.source_ca_bundle
                )
            else:
                state = sources.postgres_source(url, select_sql, opts.source_ca_bundle)
            ctx.secret_id = aws.create_source_secret(ctx.session, url.username, url.password)
        elif opts.source_sqlite is not None:
            state = sources.user_sqlite_source(opts.source_sqlite, select_sql)
        else:
            path = need(opts.sqlite_path(ctx.out), "demo SQLite path")
            state = sources.sqlite_source(path, opts.rows, opts.seed, opts.change_rows, select_sql)
        ctx.jdbc_url = state.jdbc_url
        ctx.report["source"] = {
            "kind": state.kind,
            "demo": opts.demo_source,
            "spec": spec.extraction.name,
            "rows": state.rows,
            "created": state.created,
            "changed": state.changed,
            "jdbc_url": state.jdbc_url,
        }
        if opts.demo_source:
            verb = "generated" if state.created else "reused"
            st.summary = f"{state.kind} demo: {verb}, {state.rows} rows in spec {spec.extraction.name}'s query, "
            st.summary += f"changed {state.changed}"
        else:
            st.summary = f"{state.kind}, read only: {state.rows} rows in spec {spec.extraction.name}'s query"
