"""The dashboard's HTML: small server-rendered shells that the page's script fills live.

Plain string building with :func:`html.escape` on every interpolated value, no
template engine: the pages are a handful of fixed shells (sign-in, dashboard per
role, order history, error), and the dynamic parts (tables, countdowns, chart)
are drawn by ``static/app.js`` from JSON and the live feed.  Every text comes
from the message catalogue (i18n.py).  No inline script or style: the Content
Security Policy allows only the broker's own static files (no CDN, TCO drills run
offline).
"""

from __future__ import annotations

from html import escape

from perci_sim.storage.registry import ParticipantInfo
from perci_sim.web.i18n import Catalogue

__all__ = ["READ_ONLY_ROLES", "dashboard_page", "error_page", "login_page", "order_page"]

STATIC = "/ui/static"
#: Roles with a read-only view: they see the orders the API lets them read
#: (services/queries.py: a court those of its Member State, Art. 9; Europol and a content
#: provider those it was shown, Art. 4, 11, 14), and send their own documents with the
#: SDK or the CLI.  The session middleware (auth.py) refuses their state-changing requests.
READ_ONLY_ROLES = ("court", "europol", "content_provider")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _document(
    cat: Catalogue, *, title: str, body: str, csrf: str = "", data: dict[str, str] | None = None
) -> str:
    attributes = "".join(f' data-{_e(k)}="{_e(v)}"' for k, v in (data or {}).items())
    return f"""<!doctype html>
<html lang="{_e(cat.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{_e(csrf)}">
<title>{_e(title)} · {_e(cat.t("app.brand"))}</title>
<link rel="stylesheet" href="{STATIC}/style.css">
<script type="application/json" id="perci-messages">{cat.as_json()}</script>
<script type="module" src="{STATIC}/app.js"></script>
</head>
<body{attributes}>
<a class="skip" href="#main">{_e(cat.t("app.skip"))}</a>
{body}
</body>
</html>
"""


def login_page(
    cat: Catalogue, *, csrf: str, participant_id: str = "", error: str = "", notice: str = ""
) -> str:
    """The sign-in form (participant id + API token), with a double-submit CSRF field."""
    alert = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    info = f'<p class="notice" role="status">{_e(notice)}</p>' if notice else ""
    body = f"""<main id="main" class="login" tabindex="-1">
<h1>{_e(cat.t("login.title"))}</h1>
<p>{_e(cat.t("login.intro"))}</p>
{alert}{info}
<form method="post" action="/ui/login" class="stack" id="login-form">
<input type="hidden" name="csrf_token" value="{_e(csrf)}">
<label for="participant_id">{_e(cat.t("login.participant"))}</label>
<input id="participant_id" name="participant_id" required autocomplete="username"
 value="{_e(participant_id)}" autofocus>
<label for="token">{_e(cat.t("login.token"))}</label>
<input id="token" name="token" type="password" required autocomplete="current-password">
<button type="submit">{_e(cat.t("login.submit"))}</button>
</form>
</main>"""
    return _document(cat, title=cat.t("login.title"), body=body, data={"page": "login"})


def _header(cat: Catalogue, me: ParticipantInfo, csrf: str) -> str:
    who = cat.t("app.signed_in_as", name=me.name)
    role = cat.t(f"role.{me.role}")  # a short role line: "court (Art. 9)"
    return f"""<header class="topbar">
<a class="brand" href="/ui/">{_e(cat.t("app.brand"))}</a>
<span class="who">{_e(who)} <span id="role-line" class="role-line">{_e(role)}</span></span>
<span class="clock"><span class="label">{_e(cat.t("clock.label"))}</span>
 <time id="broker-now" class="broker-now"></time> <span id="clock-speed"></span></span>
<span id="live-status" class="live" role="status">{_e(cat.t("app.live.connecting"))}</span>
<form method="post" action="/ui/logout" class="logout">
<input type="hidden" name="csrf_token" value="{_e(csrf)}">
<button type="submit">{_e(cat.t("app.sign_out"))}</button>
</form>
</header>
<div id="flash" class="flash" role="status" aria-live="polite"></div>"""


def _section(cat: Catalogue, ident: str, title_key: str, inner: str, extra: str = "") -> str:
    return (
        f'<section id="{ident}" aria-labelledby="{ident}-h" class="panel {extra}">'
        f'<h2 id="{ident}-h">{_e(cat.t(title_key))}</h2>{inner}</section>'
    )


def _key_panel(cat: Catalogue) -> str:
    inner = f"""<p>{_e(cat.t("key.intro"))}</p>
<label for="key-file">{_e(cat.t("key.file"))}</label>
<input type="file" id="key-file" accept=".json,application/json">
<p id="key-status" role="status">{_e(cat.t("key.none"))}</p>"""
    return _section(cat, "key", "key.title", inner, "key")


def _loading(cat: Catalogue, ident: str) -> str:
    return f'<div id="{ident}" class="table-wrap"><p>{_e(cat.t("app.loading"))}</p></div>'


def _issue_form(cat: Catalogue) -> str:
    reasons = "".join(
        f'<label class="check"><input type="checkbox" name="reasons" value="{r}"> '
        f"{_e(cat.t(f'issue.reason.{r}'))}</label>"
        for r in "abcde"
    )
    inner = f"""<form id="issue-form" class="stack">
<label for="issue-hsp">{_e(cat.t("issue.hsp"))}</label>
<select id="issue-hsp" name="hsp_id" required></select>
<label for="issue-urls">{_e(cat.t("issue.urls"))}</label>
<textarea id="issue-urls" name="urls" rows="2" required></textarea>
<fieldset><legend>{_e(cat.t("issue.reasons"))}</legend>{reasons}</fieldset>
<label for="issue-details">{_e(cat.t("issue.details"))}</label>
<textarea id="issue-details" name="details" rows="2" required></textarea>
<label for="issue-emergency">{_e(cat.t("issue.emergency"))}</label>
<input id="issue-emergency" name="emergency_justification">
<button type="submit">{_e(cat.t("issue.submit"))}</button>
</form>"""
    return _section(cat, "issue", "issue.title", inner)


def _view(me: ParticipantInfo) -> str:
    return "reader" if me.role in READ_ONLY_ROLES else me.role


def _read_only_note(cat: Catalogue, me: ParticipantInfo) -> str:
    """What a court, Europol or a content provider sees here, and where it signs instead."""
    return (
        f'<p id="read-only-note" class="read-only">{_e(cat.t(f"readonly.scope.{me.role}"))} '
        f"{_e(cat.t('readonly.no_signing'))}</p>"
    )


def dashboard_page(cat: Catalogue, *, me: ParticipantInfo, csrf: str) -> str:
    """The dashboard shell of ``me``'s role: authority, platform, facilitator or a reader."""
    parts = [_header(cat, me, csrf), '<main id="main" tabindex="-1">']
    if me.role in READ_ONLY_ROLES:
        inner = _read_only_note(cat, me) + _loading(cat, "orders-table")
        parts.append(_section(cat, "orders", "orders.readable", inner, "wide"))
    elif me.role == "authority":
        parts += [
            _section(cat, "orders", "orders.title", _loading(cat, "orders-table"), "wide"),
            _issue_form(cat),
            _section(cat, "clarify", "clarify.title", _loading(cat, "clarify-list")),
            _key_panel(cat),
            _section(cat, "figures", "figures.title", _loading(cat, "figures-table"), "wide"),
        ]
    elif me.role == "hsp":
        parts += [
            _section(cat, "inbox", "inbox.title", _loading(cat, "inbox-table"), "wide"),
            _key_panel(cat),
            _section(cat, "figures", "figures.title", _loading(cat, "figures-table"), "span2"),
            _section(cat, "orders", "orders.all", _loading(cat, "orders-table"), "wide"),
        ]
    else:
        parts += [
            _section(cat, "drill", "drill.title", '<p id="drill-clock" class="big"></p>'),
            _section(
                cat,
                "alerts",
                "alerts.title",
                '<ol id="alerts-list" class="alerts" role="log"></ol>',
            ),
            _section(cat, "chart", "chart.title", '<div id="chart-box"></div>', "wide"),
            _section(cat, "figures", "figures.title", _loading(cat, "figures-table"), "wide"),
            _section(cat, "timeline", "timeline.title", '<ol id="timeline-list"></ol>'),
            _section(cat, "orders", "orders.all", _loading(cat, "orders-table"), "wide"),
        ]
    parts.append("</main>")
    data = {"page": "dashboard", "role": me.role, "participant": me.id, "view": _view(me)}
    return _document(cat, title=cat.t("app.title"), body="\n".join(parts), csrf=csrf, data=data)


def order_page(cat: Catalogue, *, me: ParticipantInfo, csrf: str, order_id: str) -> str:
    """One order's summary and full history (each event's signer and receipt)."""
    body = f"""{_header(cat, me, csrf)}
<main id="main" tabindex="-1">
<p><a href="/ui/">{_e(cat.t("app.back"))}</a></p>
<h1 id="order-title">{_e(order_id)}</h1>
{_read_only_note(cat, me) if me.role in READ_ONLY_ROLES else ""}
{_section(cat, "summary", "history.summary", '<dl id="order-summary"></dl>')}
{_section(cat, "history", "history.events", _loading(cat, "history-table"), "wide")}
</main>"""
    data = {"page": "order", "role": me.role, "participant": me.id, "order": order_id}
    data["view"] = _view(me)
    return _document(cat, title=order_id, body=body, csrf=csrf, data=data)


def error_page(cat: Catalogue, *, message: str) -> str:
    """A plain error page for browser navigation (API routes answer problem+json)."""
    body = f"""<main id="main" tabindex="-1"><h1>{_e(cat.t("error.title"))}</h1>
<p>{_e(message)}</p><p><a href="/ui/">{_e(cat.t("app.back"))}</a></p></main>"""
    return _document(cat, title=cat.t("error.title"), body=body)
