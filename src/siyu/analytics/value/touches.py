"""Marketing touches from the event store: where a visit came from, as (channel, source, campaign).

Each event is classified by the first rule that applies (columns as the tracking API's enrichment fills
them, ``siyu.collect.enrich``):

1. UTM parameters (``context.campaign`` or the page URL; any channel, so a tagged link from an SMS, a QR
   poster or another app counts wherever it lands): the channel from ``utm_medium`` (cpc -> paid_search,
   social, email, ... see :data:`MEDIUMS`), source ``utm_source``, campaign ``utm_campaign``;
2. ``Channel Link Opened`` without UTM labels (an open or scan of a cross-channel link,
   ``siyu.promotions.links``, whose link has none): channel ``channel_link``, source ``link:<code>``, on
   whichever channel it was opened (a link shared in the mini-program and bought from in the APP credits
   the link); a link with UTM labels is credited by them (rule 1);
3. ``Push Notification Opened``: channel ``push``;
4. a mini-program launch scene: channel by scene family (share cards -> ``wechat_share``, QR and
   mini-program codes -> ``qr_code``, WeChat search, official account, Moments ads, Discover; the recent
   list and home-screen icons -> ``direct``), source ``scene:<value>``;
5. a referrer from another host than the page's own: ``organic_search`` (search engines), ``social`` (social
   sites) or ``referral``, source the referring host (``www.`` dropped);
6. the start of a visit with nothing of the above (a page without referrer, ``Application Opened``):
   ``direct``, source ``(direct)``.

Other events are not touches. Consecutive touch events of one person with the same (channel, source,
campaign) less than 30 minutes apart are one touch (a mini-program visit repeats its scene on every event).
"""

from __future__ import annotations

from datetime import datetime

from siyu.analytics.engine import PERSON, Analytics

DIRECT = "direct"
LINK = "channel_link"
LINK_OPENED = "Channel Link Opened"  # siyu.promotions.links.service.OPENED
SESSION_GAP_MINUTES = 30
MEDIUMS: dict[str, tuple[str, ...]] = {
    "paid_search": ("cpc", "ppc", "paid", "paidsearch", "paid_search", "sem", "search_ads"),
    "social": ("social", "social-network", "social_media", "social-media", "sm", "kol"),
    "email": ("email", "e-mail", "edm", "newsletter"),
    "video": ("video", "live", "livestream"),
    "display": ("display", "banner", "cpm", "ads"),
    "affiliate": ("affiliate", "cps", "partner"),
    "sms": ("sms", "text"),
    "push": ("push", "notification"),
    "qr_code": ("qr", "qrcode", "qr_code", "offline", "poster", "print"),
    "referral": ("referral", "link"),
    "organic_search": ("organic", "seo"),
}
SCENES: dict[str, tuple[str, ...]] = {
    "wechat_share": ("1007", "1008", "1036", "1044", "1073", "1096"),
    "qr_code": ("1011", "1012", "1013", "1047", "1048", "1049", "1124", "1125", "1126"),
    "wechat_search": ("1005", "1006", "1027", "1042", "1053", "1106"),
    "official_account": ("1020", "1035", "1043", "1058", "1074", "1082", "1091", "1102"),
    "wechat_ads": ("1045", "1046", "1067", "1068", "1084"),
    "wechat_discover": ("1001",),
    DIRECT: ("1023", "1089", "1090", "1103", "1104", "1131", "1187"),
}
SEARCH_HOSTS = ("baidu.", "bing.", "google.", "sogou.", "so.com", "sm.cn", "yahoo.", "yandex.", "duckduckgo.")
SOCIAL_HOSTS = ("xiaohongshu.", "xhslink.", "zhihu.", "weibo.", "douyin.", "kuaishou.", "bilibili.", "weixin.qq.",
                "facebook.", "instagram.", "twitter.", "linkedin.", "tiktok.", "reddit.")


def _in(an: Analytics, expr: str, values: tuple[str, ...]) -> str:
    return f"{expr} IN {an.dialect.lits(values)}"


def _like_any(an: Analytics, expr: str, parts: tuple[str, ...]) -> str:
    return " OR ".join(f"{expr} LIKE {an.dialect.lit('%' + p + '%')}" for p in parts)


def classified(an: Analytics, first: datetime, end: datetime) -> str:
    """Every event from ``first`` to before ``end``, with ``channel`` (NULL: not a touch), ``source`` and
    ``campaign`` ('' when none)."""
    d = an.dialect
    medium = "lower(utm_medium)"
    by_medium = " ".join(f"WHEN {_in(an, medium, values)} THEN {d.lit(ch)}" for ch, values in MEDIUMS.items())
    by_scene = " ".join(f"WHEN {_in(an, 'scene', values)} THEN {d.lit(ch)}" for ch, values in SCENES.items())
    ref, own = "ref_host", "page_host"
    utm = "(utm_source IS NOT NULL OR utm_medium IS NOT NULL OR utm_campaign IS NOT NULL)"
    external = f"({ref} IS NOT NULL AND {ref} != coalesce({own}, ''))"
    visit_start = "((type = 'page' AND referrer IS NULL) OR event = 'Application Opened')"
    channel = (
        f"CASE WHEN {utm} THEN CASE {by_medium} WHEN utm_medium IS NULL THEN 'campaign' ELSE {medium} END "
        f"WHEN event = {d.lit(LINK_OPENED)} THEN {d.lit(LINK)} "
        "WHEN event = 'Push Notification Opened' THEN 'push' "
        f"WHEN scene IS NOT NULL THEN CASE {by_scene} ELSE 'miniprogram_other' END "
        f"WHEN {external} THEN CASE WHEN {_like_any(an, ref, SEARCH_HOSTS)} THEN 'organic_search' "
        f"WHEN {_like_any(an, ref, SOCIAL_HOSTS)} THEN 'social' ELSE 'referral' END "
        f"WHEN {visit_start} THEN '{DIRECT}' END"
    )
    source = (
        f"CASE WHEN {utm} THEN coalesce(lower(utm_source), '(none)') "
        f"WHEN event = {d.lit(LINK_OPENED)} THEN concat('link:', coalesce(link_code, '')) "
        "WHEN event = 'Push Notification Opened' THEN 'push' "
        "WHEN scene IS NOT NULL THEN concat('scene:', scene) "
        f"WHEN {external} THEN {ref} ELSE '(direct)' END"
    )
    campaign = f"CASE WHEN {utm} THEN coalesce(utm_campaign, '') ELSE '' END"
    inner = (f"SELECT {PERSON} AS person, {d.epoch_us('timestamp')} AS us, type, event, scene, referrer, "
             f"utm_source, utm_medium, utm_campaign, {d.url_host('referrer')} AS ref_host, "
             f"{d.url_host('page_url')} AS page_host, {d.json_str('properties', 'link_code')} AS link_code FROM events "
             f"WHERE timestamp >= {d.ts_lit(first)} AND timestamp < {d.ts_lit(end)}")
    return (f"SELECT person, us, {channel} AS channel, {source} AS source, {campaign} AS campaign "
            f"FROM ({inner}) AS e")


def touches(an: Analytics, first: datetime, end: datetime) -> str:
    """The touches from ``first`` to before ``end``: ``person, us, channel, source, campaign``."""
    gap_us = SESSION_GAP_MINUTES * 60 * 1_000_000
    window = "PARTITION BY person ORDER BY us, k"
    keyed = (f"SELECT person, us, channel, source, campaign, concat(channel, '|', source, '|', campaign) AS k "
             f"FROM ({classified(an, first, end)}) AS c WHERE channel IS NOT NULL")
    ordered = (f"SELECT person, us, channel, source, campaign, k, row_number() OVER ({window}) AS rn, "
               f"max(k) OVER ({window} ROWS BETWEEN 1 PRECEDING AND 1 PRECEDING) AS prev_k, "
               f"max(us) OVER ({window} ROWS BETWEEN 1 PRECEDING AND 1 PRECEDING) AS prev_us FROM ({keyed}) AS t")
    return (f"SELECT person, us, channel, source, campaign FROM ({ordered}) AS o "
            f"WHERE rn = 1 OR prev_k != k OR us - prev_us >= {gap_us}")
