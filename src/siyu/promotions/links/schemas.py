from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkKind(StrEnum):
    web_to_miniprogram = "web_to_miniprogram"  # a page path + scene, opened by a URL Scheme / URL Link
    miniprogram_to_app = "miniprogram_to_app"  # a deep link (custom scheme) or universal link into the APP
    to_web = "to_web"  # a website URL with utm_source / utm_medium / utm_campaign


class LinkChannel(StrEnum):
    web = "web"
    miniprogram = "miniprogram"
    app = "app"
    any = "any"


class Via(StrEnum):
    link = "link"  # the short URL was opened (clicked, pasted)
    qr = "qr"  # the QR code of the short URL was scanned (it encodes ``?via=qr``)
    wxacode = "wxacode"  # a mini-program code carrying the link's scene launched the mini-program


TARGET = {LinkKind.web_to_miniprogram: "miniprogram", LinkKind.miniprogram_to_app: "app", LinkKind.to_web: "web"}
SOURCE = {LinkKind.web_to_miniprogram: LinkChannel.web, LinkKind.miniprogram_to_app: LinkChannel.miniprogram,
          LinkKind.to_web: LinkChannel.any}
# WeChat's scene parameter: at most 32 visible characters of these.
SCENE_RE = r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$"
_PAGE_RE = r"^[A-Za-z0-9_\-./]{1,256}$"
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
_NEVER = frozenset({"javascript", "data", "vbscript", "file", "blob", "about"})
Label = Field(default=None, min_length=1, max_length=100)


class LinkIn(Strict):
    kind: LinkKind
    name: str = Field(default="", max_length=200)
    target_url: str = Field(min_length=1, max_length=1800, description=(
        "to_web: the website URL (UTM parameters are added). web_to_miniprogram: the mini-program's URL Scheme "
        "(weixin://dl/business/?t=...) or URL Link (https://wxaurl.cn/...). miniprogram_to_app: the APP's deep "
        "link (brand://...) or universal link (https://...)."))
    page_path: str | None = Field(default=None, pattern=_PAGE_RE, description="web_to_miniprogram: the page.")
    scene: str | None = Field(default=None, pattern=SCENE_RE, description=(
        "web_to_miniprogram: the scene value of its mini-program code (default l=<code>)."))
    source_channel: LinkChannel | None = Field(default=None, description="Where the link is shown (by kind).")
    utm_source: str | None = Label
    utm_medium: str | None = Label
    utm_campaign: str | None = Label
    utm_term: str | None = Label
    utm_content: str | None = Label
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _shape(self) -> LinkIn:
        m = _SCHEME.match(self.target_url)
        scheme = m.group(1).lower() if m else ""
        if not scheme or scheme in _NEVER or any(c.isspace() for c in self.target_url):
            raise ValueError("target_url must be an absolute URL")
        if self.kind is LinkKind.to_web:
            if scheme not in ("http", "https"):
                raise ValueError("a to_web link needs an http(s) target_url")
            if not self.utm_source or not self.utm_campaign:
                raise ValueError("a to_web link needs utm_source and utm_campaign")
        if self.kind is LinkKind.web_to_miniprogram:
            if not self.page_path:
                raise ValueError("a web_to_miniprogram link needs page_path")
            if scheme not in ("weixin", "https"):
                raise ValueError("a web_to_miniprogram link opens a weixin:// URL Scheme or an https URL Link")
        elif self.page_path is not None or self.scene is not None:
            raise ValueError("page_path and scene are for web_to_miniprogram links")
        if self.kind is LinkKind.miniprogram_to_app and scheme == "http":
            raise ValueError("an APP link is a deep link or an https universal link")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return self


class LinkOut(BaseModel):
    id: str
    code: str
    kind: LinkKind
    name: str
    target_url: str
    page_path: str | None
    scene: str | None
    source_channel: LinkChannel
    target_channel: str
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    short_path: str = Field(description="Open it at this path of the Siyu server: /l/<code>.")
    opens_url: str = Field(description="Where an open is redirected (the target, with UTM for to_web).")


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None


class LinkTarget(BaseModel):
    """The answer of ``GET /l/{code}?redirect=false`` (a mini-program reporting a scan)."""

    code: str
    kind: LinkKind
    url: str
    target_channel: str
    page_path: str | None
    scene: str | None
