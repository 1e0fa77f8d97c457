"""Logo upload: only PNG, JPEG and WebP, at most 2 MB, redrawn by Pillow so nothing but pixels survives, served
from the database at a URL that names its digest; hostile files are refused with a sentence, never a 500."""
import io
import re

import pytest
from PIL import Image

from xtoportal.extensions import db
from xtoportal.models import AuditEntry, MerchantLogo, PortalConfiguration

UPLOAD = "/dashboard/settings/portal/logo"
SCRIPT = b"<script>alert(document.cookie)</script>"


@pytest.fixture(autouse=True)
def _https(https_public_url):
    pass


def image_bytes(kind="PNG", size=(120, 40), colour="#b45309", mode="RGB") -> bytes:
    output = io.BytesIO()
    Image.new(mode, size, colour).save(output, kind)
    return output.getvalue()


def upload(browser, content: bytes, filename="logo.png"):
    """Post the logo form, encoded here in memory (the test client spools big bodies to a file it leaves open)."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart
    boundary, body = encode_multipart({"csrf_token": browser.csrf_token(),
                                       "logo": FileStorage(io.BytesIO(content), filename)})
    return browser.post(UPLOAD, body, csrf=False, content_type=f"multipart/form-data; boundary={boundary}")


def stored_logo(acme) -> MerchantLogo | None:
    db.session.expire_all()
    return db.session.get(MerchantLogo, acme.id)


def logo_url(acme) -> str | None:
    db.session.expire_all()
    return db.session.get(PortalConfiguration, acme.id).document["branding"]["logo_url"]


def test_a_png_becomes_the_portal_logo_served_from_the_database(as_owner, acme, api, app):
    response = upload(as_owner, image_bytes(size=(1600, 400)))
    assert response.status_code == 303
    row = stored_logo(acme)
    assert row.mimetype == "image/png" and Image.open(io.BytesIO(row.content)).size == (800, 200)
    url = f"https://portal.test/brand/{acme.id}/logo-{row.digest[:16]}.png"
    assert logo_url(acme) == url
    assert api.get("/v1/customer_portal/configuration").get_json()["branding"]["logo_url"] == url
    served = app.test_client().get(url.removeprefix("https://portal.test"))
    assert served.status_code == 200 and served.data == row.content
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    entry = db.session.scalars(db.select(AuditEntry).filter_by(action="portal_settings.logo_uploaded")).one()
    assert entry.details["changes"] == {"branding.logo_url": {"from": None, "to": url}}
    assert f'src="{url}"' in as_owner.text("/dashboard/settings/portal")


def test_a_script_appended_to_a_png_is_gone_after_redrawing(as_owner, acme, app):
    hostile = image_bytes() + SCRIPT
    assert upload(as_owner, hostile).status_code == 303
    row = stored_logo(acme)
    assert b"<script" not in row.content and row.content.endswith(b"IEND\xaeB`\x82")  # nothing after the end
    Image.open(io.BytesIO(row.content)).verify()  # still a clean PNG
    served = app.test_client().get(f"/brand/{acme.id}/logo-{row.digest[:16]}.png")
    assert b"<script" not in served.data


def test_text_chunks_and_metadata_are_not_kept(as_owner, acme):
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<svg onload=alert(1)>")
    output = io.BytesIO()
    Image.new("RGBA", (50, 50), (10, 20, 30, 128)).save(output, "PNG", pnginfo=info)
    assert upload(as_owner, output.getvalue()).status_code == 303
    content = stored_logo(acme).content
    assert b"onload" not in content and b"tEXt" not in content
    assert Image.open(io.BytesIO(content)).mode == "RGBA"  # transparency survives


@pytest.mark.parametrize("kind", ["JPEG", "WEBP"])
def test_jpeg_and_webp_are_accepted_and_stored_as_png(as_owner, acme, kind):
    assert upload(as_owner, image_bytes(kind), f"logo.{kind.lower()}").status_code == 303
    assert Image.open(io.BytesIO(stored_logo(acme).content)).format == "PNG"


@pytest.mark.parametrize("content,filename", [
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>', "logo.png"),
    (b"GIF89a" + image_bytes()[6:], "logo.gif"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "logo.png"),
    (b"", "logo.png"),
])
def test_anything_but_a_readable_png_jpeg_or_webp_is_refused(as_owner, acme, content, filename):
    response = upload(as_owner, content, filename)
    assert response.status_code == 422
    message = re.search(r'id="logo-error" role="alert">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert message in ("Use a PNG, JPEG or WebP image. Other formats, SVG included, are not accepted.",
                       "This image could not be read: it may be damaged. Export it again and retry.",
                       "Choose an image file to upload.")
    assert stored_logo(acme) is None and logo_url(acme) is None


def test_a_gif_is_refused_even_though_pillow_reads_it(as_owner, acme):
    response = upload(as_owner, image_bytes("GIF"), "logo.gif")
    assert response.status_code == 422
    assert "Use a PNG, JPEG or WebP image" in response.get_data(as_text=True)


def test_a_file_over_two_megabytes_is_refused_with_its_size(as_owner, acme):
    response = upload(as_owner, image_bytes() + b"\x00" * (3 * 1024 * 1024))
    assert response.status_code == 422
    assert "This file is 3 MB; a logo must be at most 2 MB." in response.get_data(as_text=True)
    assert stored_logo(acme) is None


def test_a_twenty_megabyte_file_gets_the_settings_page_saying_so_not_an_error(as_owner, acme):
    response = upload(as_owner, image_bytes() + b"\x00" * (20 * 1024 * 1024))
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "<h1>Customer Portal</h1>" in page
    assert "This file is larger than 8 MB, so it was not received. A logo must be at most 2 MB." in page
    assert stored_logo(acme) is None


def test_a_huge_canvas_in_a_small_file_is_refused_before_it_is_decoded(as_owner, acme):
    content = image_bytes(size=(5000, 5000), colour=0, mode="L")
    assert len(content) < 2 * 1024 * 1024
    response = upload(as_owner, content)
    assert response.status_code == 422
    assert "This image is 5000×5000 pixels" in response.get_data(as_text=True)
    assert stored_logo(acme) is None


def test_an_old_or_foreign_logo_url_is_not_found(as_owner, acme, app):
    upload(as_owner, image_bytes(colour="#000000"))
    first = stored_logo(acme).digest[:16]
    upload(as_owner, image_bytes(colour="#ffffff"))
    second = stored_logo(acme).digest[:16]
    client = app.test_client()
    assert first != second
    assert client.get(f"/brand/{acme.id}/logo-{first}.png").status_code == 404
    assert client.get(f"/brand/{acme.id}/logo-{second}.png").status_code == 200
    assert client.get(f"/brand/mer_nobody/logo-{second}.png").status_code == 404


def test_removing_the_logo_brings_back_the_business_name(as_owner, acme):
    upload(as_owner, image_bytes())
    response = as_owner.post("/dashboard/settings/portal/logo/delete")
    assert response.status_code == 303
    assert stored_logo(acme) is None and logo_url(acme) is None
    assert db.session.scalars(db.select(AuditEntry).filter_by(action="portal_settings.logo_removed")).one()


def test_a_public_url_the_portal_cannot_load_from_is_explained(as_owner, acme, app):
    app.config["PUBLIC_URL"] = "http://portal.test"
    response = upload(as_owner, image_bytes())
    assert response.status_code == 422
    assert "The logo cannot be used at http://portal.test/brand/" in response.get_data(as_text=True)
    assert stored_logo(acme) is None and logo_url(acme) is None
