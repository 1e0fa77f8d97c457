"""Invoice PDF benchmark: what rendering once and serving the stored bytes saves.

    .venv/bin/python bench/invoice_pdf.py [--renders 30] [--database-url URL]

For one paid invoice of three lines (one a proration) it times, each as the median of `--renders` runs:

- first download: `invoice_pdf()` with nothing stored: template, WeasyPrint with the shared FontConfiguration and
  the no-fetch URL fetcher, then the upsert of the bytes;
- bare WeasyPrint: `HTML(string=same_html).write_pdf()` as WeasyPrint's docs show it (a new FontConfiguration and
  the default fetcher each time), the baseline;
- repeat download: `invoice_pdf()` once the bytes are stored (one primary-key read);

and the process's resident memory growth per render with a new FontConfiguration each time versus the shared one.
It runs on a throw-away SQLite database unless given one (whose tables it must be allowed to create rows in).
`make bench` (bench/__main__.py) reports the same first/bare/repeat figures through `measure()`.
"""
import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from weasyprint import HTML  # noqa: E402
from weasyprint.text.fonts import FontConfiguration  # noqa: E402

from xtoportal import create_app, invoice_pdf as pdfs  # noqa: E402
from xtoportal.billing.invoices import Line, create_invoice, mark_paid  # noqa: E402
from xtoportal.events import Origin  # noqa: E402
from xtoportal.extensions import db  # noqa: E402
from xtoportal.merchants import create_merchant  # noqa: E402
from xtoportal.models import Customer, Invoice, InvoiceDocument  # noqa: E402

DAY = 86400


def resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4


def resident_growth_kib(render, runs: int) -> float:
    """Resident memory gained per render over `runs` renders (after a warm-up render and a collection)."""
    render()
    gc.collect()
    before = resident_kib()
    for _ in range(runs):
        render()
    gc.collect()
    return (resident_kib() - before) / runs


def median_ms(step, runs: int, before=None) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def seed_invoice():
    merchant, _ = create_merchant("Kente Cloud Ltd", f"bench-{time.time_ns()}@example.com", "bench-password-1")
    merchant.address = {"line1": "4 Liberation Road", "city": "Accra", "country": "GH"}
    customer = Customer(merchant_id=merchant.id, name="Ama Mensah", email="ama@example.com", metadata_={},
                        address={"line1": "14 Oxford Street, Osu", "city": "Accra", "country": "GH"})
    db.session.add(customer)
    db.session.flush()
    now = 1_700_000_000
    invoice = create_invoice(customer, "ghs", [
        Line("Business", 40000, now, now + 30 * DAY),
        Line("Unused time on Starter", -2833, now, now + 17 * DAY, proration=True),
        Line("Remaining time on Business", 22667, now, now + 17 * DAY, proration=True),
    ], Origin("api"), now)
    mark_paid(invoice, now + 60)
    db.session.commit()
    return invoice


def measure(url: str, renders: int, memory: bool = True) -> dict:
    """The figures above on the database at `url` (milliseconds, KiB, bytes); `memory=False` skips the memory part."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEYS": "bench"})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
        invoice = seed_invoice()
        html = pdfs.invoice_html(invoice, "en")

        def forget_stored():
            db.session.execute(db.delete(InvoiceDocument).where(InvoiceDocument.invoice_id == invoice.id))
            db.session.commit()

        def first_download():
            pdfs.invoice_pdf(invoice, "en")
            db.session.commit()

        forget_stored()
        started = time.perf_counter()
        first_download()  # the process's very first render: fonts are discovered once, here
        figures = {"cold": (time.perf_counter() - started) * 1000}
        figures["first"] = median_ms(first_download, renders, before=forget_stored)
        figures["bare"] = median_ms(lambda: HTML(string=html).write_pdf(), renders)
        first_download()
        invoice_id = invoice.id
        # As a download request does it: a fresh session loads the invoice (and its lines), then the stored bytes.
        figures["repeat"] = median_ms(lambda: pdfs.invoice_pdf(db.session.get(Invoice, invoice_id), "en"), renders,
                                      before=db.session.expunge_all)
        invoice = db.session.get(Invoice, invoice_id)
        figures["size"] = len(pdfs.invoice_pdf(invoice, "en"))
        if memory:
            figures["growth_shared"] = resident_growth_kib(lambda: pdfs.render_invoice_pdf(invoice, "en"), renders)
            figures["growth_new"] = resident_growth_kib(
                lambda: HTML(string=html).write_pdf(font_config=FontConfiguration()), renders)
        db.session.remove()
        db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='xtoportal-bench-')}/bench.sqlite3"
    f = measure(url, args.renders)
    first, bare, repeat = f["first"], f["bare"], f["repeat"]
    print(f"invoice PDF, {f['size'] / 1024:.0f} KiB, median of {args.renders} runs ({url.split(':')[0]})")
    print(f"  first download, process cold          {f['cold']:8.1f} ms")
    print(f"  first download (render + store)       {first:8.1f} ms")
    print(f"  bare WeasyPrint, same HTML            {bare:8.1f} ms   ({bare / first:.2f}x our first render)")
    print(f"  repeat download (stored bytes)        {repeat:8.2f} ms   ({first / repeat:.0f}x faster than rendering)")
    print(f"  resident memory per render, shared FontConfiguration {f['growth_shared']:6.0f} KiB")
    print(f"  resident memory per render, new FontConfiguration    {f['growth_new']:6.0f} KiB")


if __name__ == "__main__":
    main()
