"""Stage source: count the spec's rows in the source the extraction will read.

A user's source (--source-url, --source-sqlite) is only read, in a read-only session. Only the demo source is
written: the embedded SQLite file, or the database named with --load-demo, gets the demo tables if missing,
--change-rows' updates and --advance-days' move of the demo's clock (:mod:`pipeline.demo_clock`).
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
                    url, opts.rows, opts.seed, opts.change_rows, select_sql, opts.source_ca_bundle, opts.advance_days
                )
            else:
                state = sources.postgres_source(url, select_sql, opts.source_ca_bundle)
            ctx.secret_id = aws.create_source_secret(ctx.session, url.username, url.password)
        elif opts.source_sqlite is not None:
            state = sources.user_sqlite_source(opts.source_sqlite, select_sql)
        else:
            path = need(opts.sqlite_path(ctx.out), "demo SQLite path")
            state = sources.sqlite_source(path, opts.rows, opts.seed, opts.change_rows, select_sql, opts.advance_days)
        ctx.jdbc_url = state.jdbc_url
        ctx.demo_today = state.today
        ctx.report["source"] = {
            "kind": state.kind,
            "demo": opts.demo_source,
            "spec": spec.extraction.name,
            "rows": state.rows,
            "created": state.created,
            "changed": state.changed,
            "jdbc_url": state.jdbc_url,
        }
        if state.clock is not None:
            # The demo's clock (as of which labels are judged final) and who left as it moved on.
            ctx.report["source"].update(
                {"clock": state.clock.as_report(), "left": len(state.clock.left), "rows_updated": state.rows_updated}
            )
        if opts.demo_source:
            verb = "generated" if state.created else "reused"
            st.summary = f"{state.kind} demo: {verb}, {state.rows} rows in spec {spec.extraction.name}'s query, "
            st.summary += f"changed {state.changed}"
            if state.clock is not None:
                st.summary += f"; today {state.clock.today}"
                if state.clock.days:
                    st.summary += f" (+{state.clock.days} days: {len(state.clock.left)} left)"
        else:
            st.summary = f"{state.kind}, read only: {state.rows} rows in spec {spec.extraction.name}'s query"
