"""The overview and session creation timed inside one process: milliseconds per request, app against baseline.

    .venv/bin/python -m bench.inprocess [--database-url URL] [--requests 300] [--html out.html] [--profile N]

No server, no socket, no wrk: Flask's test client calls each app's WSGI function in turn, so the figure is the
work the app does per request (Python and database), without gunicorn's and TCP's share and far less noisy than
`make bench` on a busy machine. Each side is measured in rounds alternating with the other (A-B-A-B…) and the
median round is reported. `--html` writes the overview page with its per-response nonce and CSRF token blanked,
to compare two versions of the code byte for byte; `--profile N` prints cProfile's N most expensive functions of
the first page measured (the overview; session creation with `--only sessions`).
"""
import argparse
import cProfile
import json
import os
import pstats
import re
import statistics
import time
from pathlib import Path

from . import data

RETURN_URL = "http://127.0.0.1/account"
# What changes from one response to the next whatever the code: the CSP nonce and the CSRF token.
_PER_RESPONSE = re.compile(r'(nonce=")[^"]+(")|("X-CSRFToken": ")[^"]+(")|(name="csrf_token" value=")[^"]+(")')


def stable_html(html: str) -> str:
    return _PER_RESPONSE.sub(lambda m: "".join(part for part in (m.group(1), m.group(3), m.group(5)) if part)
                             + "…" + "".join(part for part in (m.group(2), m.group(4), m.group(6)) if part), html)


def rounds(calls: dict, requests: int, per_round: int = 25) -> dict:
    """Each callable run `requests` times in alternating rounds; for each, the median round's milliseconds per call,
    of wall-clock time and of this process's CPU time (which other processes on a busy machine disturb less; it
    leaves out the time a database server spends)."""
    wall = {name: [] for name in calls}
    cpu = {name: [] for name in calls}
    for _ in range(max(requests // per_round, 1)):
        for name, call in calls.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                call()
            wall[name].append((time.perf_counter() - started) * 1000 / per_round)
            cpu[name].append((time.process_time() - started_cpu) * 1000 / per_round)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in calls}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="a database to build (default: a new SQLite file)")
    parser.add_argument("--reuse", action="store_true", help="the database holds the data of an earlier run")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", help="write the overview (per-response tokens blanked) to this file")
    parser.add_argument("--profile", type=int, default=0, help="print the N most expensive functions")
    parser.add_argument("--sort", default="cumulative", help="cProfile's order: cumulative, tottime…")
    parser.add_argument("--profile-file", help="also write the profile here (pstats format)")
    parser.add_argument("--only", choices=["overview", "sessions"], action="append")
    args = parser.parse_args()
    url = args.database_url or data.sqlite_url("inprocess.sqlite3")

    with data.quiet():
        dataset = data.reuse(url, 100, 1000) if args.reuse else None
        dataset = dataset or data.build(url, 100, 1000)
    os.environ["BENCH_DATABASE_URL"] = url
    from xtoportal import create_app
    from . import baseline_app

    app = create_app({**data.bench_settings(url), "PUBLIC_URL": "http://localhost"})
    client, bare = app.test_client(), baseline_app.app.test_client()
    auth = {"Authorization": f"Bearer {dataset.secret_key}"}
    body = {"customer_id": dataset.customer_id, "return_url": RETURN_URL}
    with data.quiet():
        link = client.post("/v1/customer_portal/sessions", headers=auth, json=body).get_json()["url"]
        opened = client.get(link.removeprefix("http://localhost"))
        assert opened.status_code == 303, opened.status_code
        cookie = client.get_cookie("xtoportal_portal", path="/portal").value
        page = client.get("/portal/")
        assert page.status_code == 200, page.status_code
    bare.set_cookie("xtoportal_portal", cookie)
    if args.html:
        Path(args.html).write_text(stable_html(page.get_data(as_text=True)))
        print(f"overview ({len(page.data)} bytes) written to {args.html}")

    def overview():
        assert client.get("/portal/").status_code == 200

    def bare_overview():
        assert bare.get("/overview").status_code == 200

    def session():
        assert client.post("/v1/customer_portal/sessions", headers=auth, json=body).status_code == 200

    def bare_session():
        assert bare.post("/sessions", json={**body, "merchant_id": dataset.merchant_id}).status_code == 200

    only = args.only or ["overview", "sessions"]
    calls = {}
    if "overview" in only:
        calls.update({"overview (app)": overview, "overview (baseline)": bare_overview})
    if "sessions" in only:
        calls.update({"session creation (app)": session, "session creation (baseline)": bare_session})
    with data.quiet():
        for call in calls.values():  # warm-up: templates compiled, pools filled
            for _ in range(20):
                call()
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(200):
                calls[next(iter(calls))]()  # the first measured: the overview, or session creation with --only
            profiler.disable()
            if args.profile_file:
                profiler.dump_stats(args.profile_file)
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.profile)
        timings = rounds(calls, args.requests)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {url.split('://')[0]}; "
          f"median of {max(args.requests // 25, 1)} rounds of 25")
    for name, (ms, cpu_ms) in timings.items():
        print(f"  {name}: {ms:.2f} ms/request ({cpu_ms:.2f} ms CPU)")
    for pair in ("overview", "session creation"):
        if f"{pair} (app)" in timings:
            (app_ms, app_cpu), (bare_ms, bare_cpu) = timings[f"{pair} (app)"], timings[f"{pair} (baseline)"]
            print(f"  {pair}: baseline/app = {bare_ms / app_ms * 100:.0f} % ({bare_cpu / app_cpu * 100:.0f} % in CPU)")
    print(json.dumps({name: [round(ms, 3), round(cpu_ms, 3)] for name, (ms, cpu_ms) in timings.items()}))

if __name__ == "__main__":
    main()
