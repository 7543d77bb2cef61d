"""Stage source: the demo HR database (SQLite file, or a PostgreSQL server given by --source-url)."""

from __future__ import annotations

from pipeline import aws
from pipeline import source as demo
from pipeline.context import RunContext


def run(ctx: RunContext) -> None:
    opts = ctx.options
    with ctx.progress.stage("source", "demo source database") as st:
        if opts.source_url:
            url = demo.PostgresUrl.parse(opts.source_url)
            state = demo.postgres_source(url, opts.rows, opts.seed, opts.change_rows)
            ctx.secret_id = aws.create_source_secret(ctx.session, url.username, url.password)
        else:
            state = demo.sqlite_source(ctx.out / "source" / "hr.db", opts.rows, opts.seed, opts.change_rows)
        ctx.jdbc_url = state.jdbc_url
        ctx.report["source"] = {
            "kind": state.kind,
            "rows": state.rows,
            "created": state.created,
            "changed": state.changed,
            "jdbc_url": state.jdbc_url,
        }
        verb = "generated" if state.created else "reused"
        st.summary = f"{state.kind}: {verb} {state.rows} employees, changed {state.changed}"
