"""One visit of one person on one channel: builds Segment messages as that channel's client would.

A :class:`Session` knows which ids the client currently sends (anonymousId always; userId once a
member has logged in; a junk anonymousId next to the userId for buggy clients), the channel's context
(library, device, mini-program scene, web page and campaign), and records every identifier it sends in
``Person.seen`` for the ground truth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from siyu.simulate.model import (
    APP_WECHAT_APPID,
    JUNK_IDS,
    MP_APPID,
    WEB_WECHAT_APPID,
    ChannelPlan,
    Person,
    SimChannel,
)
from siyu.simulate.people import format_phone
from siyu.simulate.world import World

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS: dict[int, str] = {}


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with a Z, as tracking clients send it."""
    day, rest = divmod(ms, 86_400_000)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = f"{_EPOCH + timedelta(days=day):%Y-%m-%d}"
    secs, milli = divmod(rest, 1000)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{secs:02d}.{milli:03d}Z"


class Session:
    """A visit: ``emit`` builds a message with the client's current ids and context, and hands it on."""

    def __init__(self, world: World, person: Person, plan: ChannelPlan, start_ms: int,
                 context: dict[str, Any]) -> None:
        self.world = world
        self.rng = world.rng
        self.sink = world.sink
        self.p = person
        self.plan = plan
        self.ch: SimChannel = plan.channel
        self.t = start_ms
        self.end_ms = world.end_ms
        self.base_ctx = context  # the channel's context for this visit
        self.ctx = context  # the current context (the web page or mini-program page being shown)
        self.last_url: str | None = None
        self.ids: dict[str, str] = {}
        self.stats = world.stats
        self.flags = world.flags
        self.refresh_ids()

    # -- identity ----------------------------------------------------------------------------------
    def see(self, kind: str, value: str) -> None:
        self.p.seen.setdefault(self.ch, set()).add((kind, value))

    @property
    def logged_in(self) -> bool:
        return self.plan.mode == "member" and self.plan.identified

    def refresh_ids(self) -> None:
        """The id fields every message of this client carries from now on."""
        if self.logged_in:
            self.see("user_id", self.p.user_id)
            if self.p.buggy:
                self.ids = {"userId": self.p.user_id, "anonymousId": JUNK_IDS[self.p.index % len(JUNK_IDS)]}
                return
            self.ids = {"userId": self.p.user_id, "anonymousId": self.plan.anonymous_id}
        else:
            self.ids = {"anonymousId": self.plan.anonymous_id}
        self.see("anonymous_id", self.plan.anonymous_id)

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def flag(self, key: str) -> None:
        """Note that this person is an example of ``key`` (for the summary's people counts)."""
        self.flags.setdefault(key, set()).add(self.p.pid)

    # -- messages ----------------------------------------------------------------------------------
    def emit(self, msg_type: str, body: dict[str, Any], context: dict[str, Any] | None = None,
             gap_s: tuple[int, int] = (3, 40)) -> dict[str, Any]:
        lo, hi = gap_s
        self.t = min(self.t + lo * 1000 + int(self.rng.random() * (hi - lo) * 1000), self.end_ms - 1)
        msg: dict[str, Any] = {"type": msg_type, "messageId": self.world.message_id(), **self.ids, **body,
                               "context": self.ctx if context is None else context,
                               "timestamp": iso_ms(self.t)}
        if "userId" not in self.ids:
            self.plan.anon_messages += 1
        elif self.p.buggy:
            self.count("junk_anonymous_id_messages")
        self.sink(self.p, self.ch, msg, self.t)
        return msg

    def track(self, event: str, properties: dict[str, Any] | None = None,
              context: dict[str, Any] | None = None) -> None:
        self.emit("track", {"event": event, "properties": properties or {}}, context)

    def page(self, name: str, properties: dict[str, Any], context: dict[str, Any] | None = None) -> None:
        self.emit("page", {"name": name, "properties": properties}, context)

    def screen(self, name: str, properties: dict[str, Any] | None = None) -> None:
        self.emit("screen", {"name": name, "properties": properties or {}})

    # -- logging in --------------------------------------------------------------------------------
    def _phone(self) -> str:
        style = self.plan.phone_style
        if style:
            self.count("unnormalized_phone_messages")
        self.see("phone", self.p.phone)
        return format_phone(self.p.phone, style)

    def _email(self) -> str:
        assert self.p.email is not None and self.p.email_sent is not None
        if self.p.email_sent != self.p.email:
            self.count("mixed_case_email_messages")
        self.see("email", self.p.email.lower())
        return self.p.email_sent

    def wechat_traits(self, appid: str, openid: str) -> dict[str, str]:
        self.see("wechat_openid", f"{appid}:{openid}")
        traits = {"wechat_openid": openid, "wechat_appid": appid}
        if self.p.unionid:
            self.see("wechat_unionid", self.p.unionid)
            traits["wechat_unionid"] = self.p.unionid
        return traits

    def login_traits(self) -> dict[str, Any]:
        """What the client knows about the person once they log in (or leave their details)."""
        login = self.plan.login
        if self.ch == "miniprogram":
            traits = self.wechat_traits(MP_APPID, self.p.mp_openid)
            if self.plan.mode == "member":
                traits["phone"] = self._phone()
            return traits
        if login == "wechat":
            appid, openid = ((APP_WECHAT_APPID, self.p.app_openid) if self.ch == "app"
                             else (WEB_WECHAT_APPID, self.p.web_openid))
            return self.wechat_traits(appid, openid)
        if login == "email" and self.p.email:
            return {"email": self._email()}
        return {"phone": self._phone()}

    def identify(self, traits: dict[str, Any]) -> None:
        self.emit("identify", {"traits": traits})

    def login(self, registered: set[str]) -> None:
        """Identify (the anonymous history joins the person), with Signed Up / Signed In and sometimes
        an alias call (web sign-ups)."""
        plan = self.plan
        if plan.mode == "member" and plan.anon_messages > 0:
            self.flag("anonymous_then_identified")
        plan.identified = True
        self.refresh_ids()
        traits = self.login_traits()
        if plan.mode != "member":
            self.identify(traits)
            return
        first = self.p.pid not in registered and not self.p.existing
        registered.add(self.p.pid)
        if first:
            traits = {**traits, "name": self.p.name, "created_at": iso_ms(self.t)}
        self.identify(traits)
        method = {"phone": "sms_code", "email": "password", "wechat": "wechat"}[plan.login]
        if self.ch == "miniprogram":
            method = "wechat_phone"
        self.track("Signed Up" if first else "Signed In", {"method": method})
        if first and self.ch == "web" and self.rng.random() < 0.35:
            previous = plan.anonymous_id
            self.emit("alias", {"previousId": previous})
            self.count("alias_calls")
