"""Cross-channel links: operators create them (and their QR codes); anyone opens them at ``/l/{code}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Query, Request, Response
from fastapi.responses import RedirectResponse

from siyu.auth.errors import ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.collect.openapi import ERROR
from siyu.deps import PrincipalDep, SessionDep
from siyu.kit.clock import utcnow
from siyu.promotions.links import qr, service
from siyu.promotions.links.errors import InvalidLink
from siyu.promotions.links.schemas import LinkIn, LinkOut, LinkPage, LinkTarget, Via

router = APIRouter(prefix="/api/v1/promotions/links", tags=["promotions"])
public = APIRouter(tags=["links"])

ANON_COOKIE = "ajs_anonymous_id"  # analytics.js keeps the visitor's anonymous id in this cookie
_YEAR = 365 * 86400
Scale = Annotated[int, Query(ge=1, le=40, description="Pixels (PNG) or units (SVG) per module.")]
Border = Annotated[int, Query(ge=0, le=16, description="Quiet zone in modules (4 is the standard).")]
Base = Annotated[str | None, Query(max_length=200, pattern=r"^https?://[A-Za-z0-9.\-:\[\]]+$", description=(
    "The public origin of this server as customers reach it (default: the origin of this request)."))]


def _writer(p: Principal) -> None:
    if p.role is Role.member or not p.has(Scope.promotions_write):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})


@router.post("", status_code=201, response_model=LinkOut)
def create(body: LinkIn, session: SessionDep, p: PrincipalDep) -> LinkOut:
    """A link from one channel into another: website -> mini-program (page path + scene, opened by a URL
    Scheme or URL Link), mini-program -> APP (deep link), anywhere -> website (with UTM)."""
    _writer(p)
    return service.out(service.create(session, body, p.actor, utcnow()))


@router.get("", response_model=LinkPage)
def list_links(session: SessionDep, p: PrincipalDep, before: str | None = Query(None, max_length=32),
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> LinkPage:
    _writer(p)
    rows = service.page(session, before, limit + 1)
    items = [service.out(r) for r in rows[:limit]]
    return LinkPage(items=items, next_cursor=items[-1].id if len(rows) > limit and items else None)


@router.get("/{link_id}", response_model=LinkOut)
def get_link(link_id: str, session: SessionDep, p: PrincipalDep) -> LinkOut:
    _writer(p)
    return service.out(service.get(session, link_id))


def _qr(request: Request, session: SessionDep, link_id: str, kind: str, scale: int, border: int,
        base: str | None) -> Response:
    link = service.get(session, link_id)
    url = service.short_url(base or str(request.base_url), link, Via.qr)
    media = "image/svg+xml" if kind == "svg" else "image/png"
    return Response(qr.render(url, kind, scale, border), media_type=media,
                    headers={"Content-Disposition": f'inline; filename="link-{link.code}.{kind}"'})


_IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The QR code."}}


@router.get("/{link_id}/qr.png", response_class=Response, responses=_IMAGE)
def qr_png(link_id: str, request: Request, session: SessionDep, _: PrincipalDep, scale: Scale = 8,
           border: Border = 4, base: Base = None) -> Response:
    """The QR code of the link's short URL (``/l/<code>?via=qr``: scans are told apart from clicks)."""
    return _qr(request, session, link_id, "png", scale, border, base)


@router.get("/{link_id}/qr.svg", response_class=Response, responses=_IMAGE)
def qr_svg(link_id: str, request: Request, session: SessionDep, _: PrincipalDep, scale: Scale = 8,
           border: Border = 4, base: Base = None) -> Response:
    return _qr(request, session, link_id, "svg", scale, border, base)


_ERR = {"application/json": {"schema": ERROR}}
_OPEN: dict[int | str, dict[str, Any]] = {
    302: {"description": "To the link's target."},
    404: {"description": "No such link (link_not_found)", "content": _ERR},
    410: {"description": "The link has expired (link_expired)", "content": _ERR},
}


@public.get("/l/{code}", response_model=LinkTarget, responses=_OPEN)
def open_link(code: str, request: Request, session: SessionDep, via: Via = Via.link,
              aid: str | None = Query(None, max_length=200, description="The opener's anonymous id."),
              redirect: bool = True,
              wx_scene: str | None = Query(None, pattern=r"^[0-9]{1,8}$", description=(
                  "The mini-program's launch scene (1047: a mini-program code was scanned).")),
              cookie_aid: str | None = Cookie(None, alias=ANON_COOKIE)) -> Response | LinkTarget:
    """Open a link (public, no credentials): the open is recorded as a touch and answered with a redirect
    (302) to the target, or with the target as JSON (``redirect=false``: a mini-program reporting that its
    mini-program code was scanned, ``via=wxacode``)."""
    if len(code) > 32:
        raise InvalidLink("No such link code.")
    link = service.by_code(session, code)
    anonymous, new = service.anonymous_id(aid or cookie_aid)
    service.record_open(session, link, via=via, anonymous=anonymous, now=utcnow(),
                        page_url=service.short_url(str(request.base_url), link),
                        referrer=request.headers.get("referer"), wx_scene=wx_scene)
    answer: Response
    if not redirect:
        answer = Response(service.target(link).model_dump_json(), media_type="application/json")
    else:
        answer = RedirectResponse(service.opens_url(link), status_code=302)
    answer.headers["Cache-Control"] = "no-store"
    if new and redirect:
        answer.set_cookie(ANON_COOKIE, anonymous, max_age=_YEAR, samesite="lax")
    return answer
