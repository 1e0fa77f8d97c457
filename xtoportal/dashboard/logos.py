"""Merchant logos: what an upload must be, how it is neutralised, and where it is served from.

An uploaded file is never served as it came. Pillow must recognise it as PNG, JPEG or WebP from its bytes (the
file name and the browser's content type are ignored, so an SVG renamed .png is refused), then its pixels alone
are drawn again into a fresh PNG: anything appended to or hidden inside the file (scripts, metadata, polyglots)
is gone. The result is served from the database at a URL that names its digest, so it can be cached for a year.
"""
import hashlib
import io
import warnings
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, make_response, request, url_for
from PIL import Image, ImageOps, UnidentifiedImageError

from .. import clock
from ..extensions import db
from ..models import MerchantLogo

MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_PIXELS = 4096 * 4096  # before decoding: a small file can claim a huge canvas (a decompression bomb)
LOGO_BOX = (800, 400)  # shown at most 192×40 CSS pixels: this is sharp on any screen
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
DIGEST_IN_URL = 16
ONE_YEAR = 365 * 24 * 3600


class LogoRefused(ValueError):
    """Why an upload cannot be a logo, in a sentence for the merchant."""


@dataclass(frozen=True)
class Logo:
    content: bytes
    width: int
    height: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def reencode_logo(data: bytes) -> Logo:
    """The upload redrawn as a PNG no larger than LOGO_BOX; LogoRefused when it is not an acceptable image."""
    if not data:
        raise LogoRefused("Choose an image file to upload.")
    if len(data) > MAX_LOGO_BYTES:
        raise LogoRefused(f"This file is {_megabytes(len(data))}; a logo must be at most {_megabytes(MAX_LOGO_BYTES)}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            if image.width * image.height > MAX_LOGO_PIXELS:
                raise LogoRefused(f"This image is {image.width}×{image.height} pixels; a logo must be at most "
                                  f"{MAX_LOGO_PIXELS:,} pixels in all.")
            image.seek(0)  # an animated image keeps its first frame only
            image.load()
    except LogoRefused:
        raise
    except UnidentifiedImageError:
        raise LogoRefused("Use a PNG, JPEG or WebP image. Other formats, SVG included, are not accepted.") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoRefused("This image could not be read: it may be damaged. Export it again and retry.") from None
    return _redrawn(image)


def _redrawn(image: Image.Image) -> Logo:
    image = ImageOps.exif_transpose(image)  # a phone photo's rotation lives in metadata that is about to go
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    image.thumbnail(LOGO_BOX, Image.Resampling.LANCZOS)
    clean = Image.new(image.mode, image.size)  # a new image: only pixels cross over, no chunk or metadata
    clean.paste(image)
    output = io.BytesIO()
    clean.save(output, "PNG", optimize=True)
    return Logo(output.getvalue(), clean.width, clean.height)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def store_logo(merchant_id: str, logo: Logo) -> MerchantLogo:
    """Keep `logo` as the merchant's one logo, replacing any before (the caller commits)."""
    row = db.session.get(MerchantLogo, merchant_id)
    if row is None:
        row = MerchantLogo(merchant_id=merchant_id)
        db.session.add(row)
    row.content, row.mimetype, row.digest, row.updated = logo.content, "image/png", logo.digest, clock.now()
    return row


def delete_logo(merchant_id: str) -> None:
    """Forget the merchant's uploaded logo (the caller commits)."""
    db.session.execute(db.delete(MerchantLogo).where(MerchantLogo.merchant_id == merchant_id))


def logo_url(row: MerchantLogo) -> str:
    """The logo's absolute public URL; it names the digest, so a new logo is a new URL."""
    path = url_for("brand.logo", merchant_id=row.merchant_id, digest=row.digest[:DIGEST_IN_URL])
    return current_app.config["PUBLIC_URL"] + path


# Logos are public (a customer's browser, an invoice PDF and an email client fetch them): outside /dashboard.
brand_bp = Blueprint("brand", __name__, url_prefix="/brand")


@brand_bp.get("/<merchant_id>/logo-<digest>.png")
def logo(merchant_id, digest):
    row = db.session.get(MerchantLogo, merchant_id) if len(merchant_id) <= 40 else None
    if row is None or row.digest[:DIGEST_IN_URL] != digest:
        abort(404)
    response = make_response(row.content)
    response.headers["Content-Type"] = row.mimetype
    response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.set_etag(row.digest)
    return response.make_conditional(request)
