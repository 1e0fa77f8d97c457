"""`make bench`: the portal's speed as ratios against bare baselines measured in the same run, on this machine.

    .venv/bin/python -m bench [--seconds 8] [--workers N] [--database-url URL] [--big-database-url URL]

What it measures (every server is gunicorn with sync workers on 127.0.0.1, the same settings for the app and its
baseline; load from wrk with the same connections):

1. On SQLite and on PostgreSQL, with 100 customers of whom the measured one has 3 subscriptions and 24 invoices:
   - the portal overview (GET /portal/ with a redeemed session's cookie) against bench/baseline_app.py's page of
     the same size doing the same five SELECTs: req/s, p50, p99 (target: the app at least 85 % of the baseline);
   - POST /v1/customer_portal/sessions against a bare endpoint inserting one row and committing (target 80 %).
2. The invoice PDF (bench/invoice_pdf.py): first render against bare WeasyPrint of the same HTML (≤ 1.3×), and the
   repeat download against the first render (≥ 50× faster).
3. The overview on PostgreSQL with 100,000 customers and 1,000,000 invoices (loaded with COPY) against the
   100-customer database, both served at once (≤ 1.2× the time per request); the plan of every statement of the
   overview and billing history there (EXPLAIN), flagging any sequential scan of a big table.

The PostgreSQL databases are wiped and rebuilt (their names must contain "bench"); they are created when missing if
the role may. The table goes to stdout and, as markdown with the machine, to bench/results.md (`--markdown`).
Each app/baseline pair is measured in A-B-B-A order (half the time each) after a warm-up, so drift in the
machine's load touches both sides alike. On a busy machine, `python -m bench.inprocess` (bench/inprocess.py) gives
the same two comparisons as milliseconds of work per request, without servers, and a profile.
"""
import argparse
import json
import os
import platform
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import data, invoice_pdf, plans
from .wrk import Gunicorn, Load, LoadError, ensure_wrk, run_wrk

HERE = Path(__file__).resolve().parent
DEFAULT_DATABASE = "postgresql://xtoportal:xtoportal@127.0.0.1/xtoportal_bench"
RETURN_URL = "http://127.0.0.1/account"


@dataclass
class Row:
    figure: str
    app: str
    baseline: str
    ratio: str
    target: str
    met: bool | None  # None: not measured


def percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def times(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def say(message: str) -> None:
    print(message, flush=True)


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    return {"cpus": os.cpu_count(), "model": model, "load": os.getloadavg(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "system": f"{platform.system()} {platform.release()}"}


def open_portal(base: str, dataset: data.Dataset) -> str:
    """A portal cookie for the featured customer, made as a merchant and a browser would: API, then the link."""
    with httpx.Client(base_url=base, timeout=30) as client:
        created = client.post("/v1/customer_portal/sessions",
                              headers={"Authorization": f"Bearer {dataset.secret_key}"},
                              json={"customer_id": dataset.customer_id, "return_url": RETURN_URL})
        created.raise_for_status()
        link = created.json()["url"]
        opened = client.get(link, follow_redirects=False)
        if opened.status_code != 303:
            raise SystemExit(f"opening the portal link answered {opened.status_code}")
        return f"xtoportal_portal={opened.cookies['xtoportal_portal']}"


def page_bytes(url: str, cookie: str) -> int:
    answer = httpx.get(url, headers={"Cookie": cookie}, timeout=30)
    if answer.status_code != 200:
        raise SystemExit(f"GET {url} answered {answer.status_code}")
    return len(answer.content)


class Bench:
    def __init__(self, args):
        self.args = args
        self.wrk = ensure_wrk()
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.connections = args.connections or 2 * args.workers

    def load(self, target: tuple[Gunicorn, str, dict], seconds: float) -> Load:
        server, path, request = target
        try:
            return run_wrk(self.wrk, server.url + path, seconds, self.connections, **request)
        except LoadError as exc:
            raise SystemExit(f"{exc}\nthe server's log (errors only):\n{server.log_tail()}") from None

    def pair(self, a: tuple[Gunicorn, str, dict], b: tuple[Gunicorn, str, dict]) -> tuple[Load, Load]:
        """Warm both up, then measure A, B, B, A (half the time each); returns each side's combined figures."""
        self.load(a, self.args.warmup)
        self.load(b, self.args.warmup)
        half = self.args.seconds / 2
        a1, b1, b2, a2 = self.load(a, half), self.load(b, half), self.load(b, half), self.load(a, half)
        return combine(a1, a2), combine(b1, b2)

    def compare(self, name: str, app: Load, base: Load, target: float) -> None:
        """Rows for req/s, p50 and p99, each as the app's share of the baseline's performance."""
        say(f"  {name}: app {app.rps:.0f} req/s p50 {app.p50:.1f} ms p99 {app.p99:.1f} ms; "
            f"baseline {base.rps:.0f} req/s p50 {base.p50:.1f} ms p99 {base.p99:.1f} ms")
        for label, a, b, share in (
            ("req/s", f"{app.rps:.0f}", f"{base.rps:.0f}", app.rps / base.rps),
            ("p50", f"{app.p50:.1f} ms", f"{base.p50:.1f} ms", base.p50 / app.p50),
            ("p99", f"{app.p99:.1f} ms", f"{base.p99:.1f} ms", base.p99 / app.p99),
        ):
            self.rows.append(Row(f"{name}, {label}", a, b, percent(share), f"≥ {percent(target)}", share >= target))

    # 1. overview and session creation against the baselines

    def against_baselines(self, backend: str, url: str) -> None:
        say(f"\n== {backend}: {self.args.customers} customers, the measured one with 3 subscriptions and "
            f"{data.FEATURED_INVOICES} invoices")
        dataset = data.build(url, self.args.customers, self.args.customers * 10)
        app = Gunicorn("wsgi:app", data_env(url), self.args.workers)
        app.env["PUBLIC_URL"] = app.url
        with app:
            cookie = open_portal(app.url, dataset)
            size = page_bytes(app.url + "/portal/", cookie)
            baseline = Gunicorn("bench.baseline_app:app",
                                {"BENCH_DATABASE_URL": url, "BENCH_PAGE_BYTES": str(size)}, self.args.workers)
            with baseline:
                base_size = page_bytes(baseline.url + "/overview", cookie)
                say(f"  overview page {size} bytes, baseline page {base_size} bytes")
                headers = {"Cookie": cookie}
                ours, bare = self.pair((app, "/portal/", {"headers": headers}),
                                       (baseline, "/overview", {"headers": headers}))
                self.compare(f"overview ({backend})", ours, bare, 0.85)
                body = {"customer_id": dataset.customer_id, "return_url": RETURN_URL}
                ours, bare = self.pair(
                    (app, "/v1/customer_portal/sessions", {
                        "method": "POST", "body": json.dumps(body),
                        "headers": {"Authorization": f"Bearer {dataset.secret_key}",
                                    "Content-Type": "application/json"}}),
                    (baseline, "/sessions", {
                        "method": "POST", "body": json.dumps({**body, "merchant_id": dataset.merchant_id}),
                        "headers": {"Content-Type": "application/json"}}))
                say(f"  session creation: app {ours.rps:.0f} req/s p50 {ours.p50:.1f} ms; "
                    f"baseline {bare.rps:.0f} req/s p50 {bare.p50:.1f} ms")
                share = ours.rps / bare.rps
                self.rows.append(Row(f"session creation ({backend}), req/s", f"{ours.rps:.0f}", f"{bare.rps:.0f}",
                                     percent(share), "≥ 80 %", share >= 0.8))

    # 2. invoice PDF

    def invoice_pdf(self) -> None:
        say(f"\n== invoice PDF: median of {self.args.renders} renders (SQLite)")
        with data.quiet():
            f = invoice_pdf.measure(data.sqlite_url("pdf.sqlite3"), self.args.renders, memory=False)
        say(f"  first download {f['first']:.1f} ms, bare WeasyPrint {f['bare']:.1f} ms, "
            f"repeat download {f['repeat']:.2f} ms")
        slower = f["first"] / f["bare"]
        self.rows.append(Row("invoice PDF, first download vs bare WeasyPrint", f"{f['first']:.0f} ms",
                             f"{f['bare']:.0f} ms", times(slower), "≤ 1.3×", slower <= 1.3))
        faster = f["first"] / f["repeat"]
        self.rows.append(Row("invoice PDF, repeat download vs first", f"{f['repeat']:.2f} ms",
                             f"{f['first']:.0f} ms", f"{faster:.0f}× faster", "≥ 50× faster", faster >= 50))

    # 3. scale

    def at_scale(self, small_url: str, big_url: str) -> None:
        big_n, big_i = self.args.big_customers, self.args.big_invoices
        say(f"\n== PostgreSQL at scale: {big_n:,} customers and {big_i:,} invoices vs {self.args.customers} customers")
        started = time.perf_counter()
        big = data.reuse(big_url, big_n, big_i) if self.args.reuse_big else None
        if big is not None:
            say(f"  reusing the database at {big_url} (--reuse-big)")
        else:
            big = data.build(big_url, big_n, big_i)
            say(f"  generated in {time.perf_counter() - started:.0f} s: schema and COPY {big.timings['load']:.0f} s, "
                f"VACUUM ANALYZE {big.timings['vacuum']:.0f} s")
        small = data.build(small_url, self.args.customers, self.args.customers * 10)
        self.check_plans(big)
        small_app = Gunicorn("wsgi:app", data_env(small_url), self.args.workers)
        big_app = Gunicorn("wsgi:app", data_env(big_url), self.args.workers)
        small_app.env["PUBLIC_URL"], big_app.env["PUBLIC_URL"] = small_app.url, big_app.url
        with small_app, big_app:
            small_cookie, big_cookie = open_portal(small_app.url, small), open_portal(big_app.url, big)
            on_big, on_small = self.pair((big_app, "/portal/", {"headers": {"Cookie": big_cookie}}),
                                         (small_app, "/portal/", {"headers": {"Cookie": small_cookie}}))
        say(f"  overview: {big_i:,} invoices {on_big.rps:.0f} req/s p50 {on_big.p50:.1f} ms p99 {on_big.p99:.1f} ms; "
            f"{self.args.customers} customers {on_small.rps:.0f} req/s p50 {on_small.p50:.1f} ms p99 {on_small.p99:.1f} ms")
        for label, a, b, slower in (
            ("time per request (1 / req/s)", f"{on_big.rps:.0f} req/s", f"{on_small.rps:.0f} req/s",
             on_small.rps / on_big.rps),
            ("p50", f"{on_big.p50:.1f} ms", f"{on_small.p50:.1f} ms", on_big.p50 / on_small.p50),
        ):
            self.rows.append(Row(f"overview, {big_i:,} invoices vs {self.args.customers} customers (PostgreSQL), "
                                 f"{label}", a, b, times(slower), "≤ 1.2×", slower <= 1.2))

    def check_plans(self, dataset: data.Dataset) -> None:
        from xtoportal import create_app
        app = create_app({**data.bench_settings(dataset.url), "PUBLIC_URL": "http://127.0.0.1"})
        with data.quiet():
            statements = plans.portal_statements(app, dataset.secret_key, dataset.customer_id)
        with app.app_context():
            from xtoportal.extensions import db
            found = plans.explain(db.engine, statements)
            db.engine.dispose()
        say("\n  query plans of the overview and billing history on the big database (each statement once):")
        printed = set()
        for plan in found:
            if plan.sql in printed:
                continue
            printed.add(plan.sql)
            say(f"\n  -- {plan.page}: {' '.join(plan.sql.split())[:150]}…")
            say("\n".join("     " + line for line in plan.text.splitlines()))
            if plan.seq_scans:
                say(f"  !! Seq Scan on {', '.join(plan.seq_scans)}")
        flagged = sorted({table for plan in found for table in plan.seq_scans})
        self.rows.append(Row(f"Seq Scans of big tables in the overview's and billing history's {len(printed)} "
                             f"statements (EXPLAIN, {dataset.invoices:,} invoices)",
                             str(len(flagged)) if not flagged else ", ".join(flagged), "—", "—", "0", not flagged))

    def skipped(self, figure: str, why: str) -> None:
        self.rows.append(Row(figure, "—", "—", "—", "—", None))
        self.notes.append(f"{figure}: not measured ({why})")


def data_env(url: str) -> dict:
    return {key: str(value) for key, value in data.bench_settings(url).items()}


def combine(first: Load, second: Load) -> Load:
    """Two runs as one: total requests over total time; latency percentiles averaged."""
    seconds = first.requests / first.rps + second.requests / second.rps
    return Load((first.requests + second.requests) / seconds, (first.p50 + second.p50) / 2,
                (first.p99 + second.p99) / 2, first.requests + second.requests)


def postgres_reachable(url: str) -> str | None:
    """None when `url`'s server answers, else why not."""
    import psycopg
    from sqlalchemy import make_url
    target = make_url(data.engine_url(url)).set(drivername="postgresql", database="postgres")
    try:
        psycopg.connect(target.render_as_string(hide_password=False), connect_timeout=5).close()
        return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def table(rows: list[Row]) -> list[str]:
    header = ("figure", "app", "baseline", "ratio", "target", "met?")
    cells = [header] + [(r.figure, r.app, r.baseline, r.ratio, r.target,
                         "—" if r.met is None else ("yes" if r.met else "NO")) for r in rows]
    return ["| " + " | ".join(c) + " |" for c in cells[:1]] + ["|" + "---|" * len(header)] + \
           ["| " + " | ".join(c) + " |" for c in cells[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8, help="measured seconds per server and figure")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds per server and figure")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, help="wrk connections (default: 2 per worker)")
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--big-customers", type=int, default=100_000)
    parser.add_argument("--big-invoices", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=15, help="invoice PDF renders per median")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE),
                        help="PostgreSQL database for the 100-customer runs (wiped; its name must contain 'bench')")
    parser.add_argument("--big-database-url", default=os.environ.get("BENCH_BIG_DATABASE_URL"),
                        help="PostgreSQL database for the million invoices (default: --database-url + '_big')")
    parser.add_argument("--reuse-big", action="store_true",
                        help="keep the million-invoice database of an earlier run if its counts match")
    parser.add_argument("--markdown", default=str(HERE / "results.md"), help="where to write the markdown table")
    parser.add_argument("--skip", action="append", default=[], choices=["sqlite", "postgres", "pdf", "scale"])
    args = parser.parse_args()
    big_url = args.big_database_url or args.database_url + "_big"
    started = time.perf_counter()
    host = machine()
    say(f"machine: {host['cpus']} CPUs, {host['model']}; load average before the run "
        f"{' '.join(f'{x:.2f}' for x in host['load'])}")
    bench = Bench(args)
    postgres_down = None if "postgres" in args.skip and "scale" in args.skip else postgres_reachable(args.database_url)
    if postgres_down:
        say(f"PostgreSQL is not reachable at {args.database_url}: {postgres_down}\n"
            "  its figures are skipped; start PostgreSQL or pass --database-url (a database named *bench*)")

    if "sqlite" not in args.skip:
        bench.against_baselines("SQLite", data.sqlite_url("bench.sqlite3"))
    if "postgres" not in args.skip:
        if postgres_down:
            bench.skipped("overview and session creation (PostgreSQL)", "PostgreSQL not reachable")
        else:
            bench.against_baselines("PostgreSQL", args.database_url)
    if "pdf" not in args.skip:
        bench.invoice_pdf()
    if "scale" not in args.skip:
        if postgres_down:
            bench.skipped("overview at 1M invoices", "PostgreSQL not reachable")
        else:
            bench.at_scale(args.database_url, big_url)

    elapsed = time.perf_counter() - started
    lines = table(bench.rows)
    say("\n" + "\n".join(lines))
    measured = [r for r in bench.rows if r.met is not None]
    met = sum(1 for r in measured if r.met)
    say(f"\n{met} of {len(measured)} measured figures meet their target; the run took {elapsed:.0f} s")
    for note in bench.notes:
        say(f"  {note}")
    markdown = [
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {elapsed:.0f} s: "
        f"{host['cpus']} CPUs ({host['model']}), {host['system']}, Python {host['python']}, "
        f"SQLite {host['sqlite']}; load average before the run {' '.join(f'{x:.2f}' for x in host['load'])}. "
        f"gunicorn: {args.workers} sync workers; wrk: 1 thread, {bench.connections} connections, "
        f"{args.warmup:g} s warm-up then {args.seconds:g} s per server (A-B-B-A). "
        "Latency ratios are the baseline's latency over the app's (higher is better).",
        "", *lines, "", *(f"- {note}" for note in bench.notes),
    ]
    Path(args.markdown).write_text("\n".join(markdown).rstrip() + "\n")
    say(f"written to {args.markdown}")


if __name__ == "__main__":
    main()
