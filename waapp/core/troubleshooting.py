"""The troubleshooting guide, as data: each symptom in the words a shop owner uses, its
likely causes, how to check them in waapp, and the fix.

Entries link to the error catalogue by ``(dialect, code)``; the Diagnostics screen shows
each linked code with its catalogue title and meaning, so a code is never shown bare. A
test checks that every linked code exists in the catalogue and that every entry has all
its parts.

:func:`search` matches every word of the query against an entry's symptom, other
wordings, text and codes (and the catalogue titles of its codes), so "131047", "24 hours"
and "outside window" all find the 24-hour entry. :func:`entries_for_code` goes the other
way: from an error in a report to the entries that explain it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from waapp.core.catalogue import Dialect, lookup

__all__ = ["GuideEntry", "entries_for_code", "entry", "guide", "search"]

_TW, _META, _WS = Dialect.TWILIO, Dialect.META, Dialect.WASENDER


@dataclass(frozen=True, slots=True)
class GuideEntry:
    """One symptom and what to do about it. Every text is plain language, one sentence
    or two per item; ``codes`` are the catalogue entries that explain it in detail."""

    key: str
    symptom: str  # as the user says it
    causes: tuple[str, ...]
    how_to_check: tuple[str, ...]
    fix: tuple[str, ...]
    codes: tuple[tuple[Dialect, str], ...] = ()
    also_said: tuple[str, ...] = ()  # other wordings, for the search

    def text(self) -> str:
        """Everything searchable about the entry, lower case."""
        parts = [self.symptom, *self.also_said, *self.causes, *self.how_to_check, *self.fix]
        for dialect, code in self.codes:
            parts.append(code)
            parts.append(lookup(dialect, code).title)
        return " ".join(parts).lower()


_GUIDE: tuple[GuideEntry, ...] = (
    GuideEntry(
        key="sent-not-delivered",
        symptom="It says “sent”, but the customer never got the message",
        also_said=(
            "sent but not delivered",
            "nobody received it",
            "stuck on sent",
            "only one grey tick",
            "message not arriving",
        ),
        causes=(
            "The WhatsApp session of your gateway (WaSender) is disconnected: the gateway "
            "accepts the message but cannot hand it to WhatsApp.",
            "The number was saved without its country code (7033009600 instead of "
            "+917033009600), so it went to the wrong country or to nobody.",
            "The number is not on WhatsApp, or the person has a very old WhatsApp or has not "
            "accepted WhatsApp's terms (63024 at Twilio, 131026 at Meta).",
            "The person is in one of Meta's marketing experiments: Meta held the marketing "
            "message back and does not charge for it (63032 / 130472).",
            "Meta limits how many marketing messages one person gets; this person had enough "
            "recently (63049 / 131049).",
            "The message was delivered, but the delivery report never reached waapp (see "
            "“No delivery reports arrive”).",
        ),
        how_to_check=(
            "Diagnostics → Accounts health: a gateway's session must say “connected”; press "
            "“Check now” to ask again.",
            "Open the campaign's report: a failed recipient shows the error code with its meaning.",
            "In Contacts, look at the number: it must start with + and the country code.",
            "Diagnostics → Last events: if “delivered” and “read” arrive for other messages, "
            "delivery reports work and the problem is with this recipient.",
        ),
        fix=(
            "Session disconnected: scan the QR code again in your gateway's dashboard, then "
            "resume the campaign; nothing is sent twice.",
            "Missing country code: edit the contact and choose its country, or import the "
            "sheet again with the right default country; then “Retry failed”.",
            "Not on WhatsApp: nothing to do; waapp never retries these. Reach the person "
            "another way.",
            "Experiment or marketing limit: do not retry soon. Try again after at least 24 "
            "hours with “Retry failed”; a utility message (an order update, a reminder) is not "
            "limited the same way.",
        ),
        codes=(
            (_TW, "63024"),
            (_META, "131026"),
            (_TW, "63003"),
            (_WS, "not_on_whatsapp"),
            (_WS, "session_disconnected"),
            (_TW, "63032"),
            (_META, "130472"),
            (_TW, "63049"),
            (_META, "131049"),
        ),
    ),
    GuideEntry(
        key="outside-24h",
        symptom="Error 63016 / 131047: outside the 24-hour window",
        also_said=(
            "re-engagement message",
            "more than 24 hours",
            "customer service window",
            "free-form message not allowed",
            "session message failed",
        ),
        causes=(
            "A free-form message (plain text) went to someone who has not written to you in "
            "the last 24 hours. WhatsApp then accepts only an approved template.",
            "At Twilio, an approved template sent as plain text instead of by its template "
            "(Content SID) fails the same way.",
            "Sometimes the customer's last message came from a slightly different number "
            "(Mexico +52 / +521, Argentina +54 / +549), so their window looks closed.",
        ),
        how_to_check=(
            "Contacts → the “Last reply” column: more than 24 hours ago means "
            "the window is closed.",
            "The campaign's preflight shows how many recipients are outside the window and "
            "what they will get.",
            "The campaign's message step shows its window policy.",
        ),
        fix=(
            "Send an approved template to people outside the window. The campaign's window "
            "policy decides: “Template only” sends the template to everyone; “Free-form inside "
            "the window” sends your free-form text to those who wrote in the last 24 hours and "
            "the template to everyone else; “Free-form only” skips everyone outside the "
            "window.",
            "When a message still fails with 63016 / 131047 while sending, waapp switches that "
            "recipient to the campaign's approved template if it has one, else marks it failed.",
            "Add an approved template to the campaign and use “Retry failed”; or wait until the "
            "customer writes to you, which opens the window for 24 hours.",
        ),
        codes=((_TW, "63016"), (_META, "131047")),
    ),
    GuideEntry(
        key="session-disconnected",
        symptom="The gateway's WhatsApp session is disconnected or asks for a QR scan",
        also_said=(
            "need_scan",
            "scan the QR code",
            "logged out",
            "session expired",
            "stuck on connecting",
            "WaSender disconnected",
        ),
        causes=(
            "A WhatsApp-Web gateway works as a linked device of your phone. It drops when the "
            "phone is offline for long, when WhatsApp logs the linked device out, after the "
            "phone or WhatsApp is reinstalled, or when the gateway restarts.",
            "While the session is not “connected”, nothing can be sent; some gateways still "
            "accept messages and lose them.",
        ),
        how_to_check=(
            "Diagnostics → Accounts health → “Check now”: the session state is one of "
            "connected, connecting, need_scan, disconnected, logged_out or expired. Only "
            "connected can send.",
            "A campaign that was sending pauses itself when the session drops; its timeline "
            "says so.",
        ),
        fix=(
            "Open your WaSender dashboard, open the session and show its QR code. On the phone "
            "open WhatsApp → Settings → Linked devices → Link a device, and scan it.",
            "Keep the phone charged and online. Then press “Check now” here and resume the "
            "paused campaign: it continues where it stopped and never sends twice.",
            "If the session stays on “connecting”, disconnect it in the dashboard and connect "
            "again to get a fresh QR code.",
        ),
        codes=(
            (_WS, "session_need_scan"),
            (_WS, "session_disconnected"),
            (_WS, "session_logged_out"),
            (_WS, "session_expired"),
            (_WS, "session_connecting"),
        ),
    ),
    GuideEntry(
        key="no-country-code",
        symptom="Numbers without a country code, or sent to the wrong country",
        also_said=(
            "invalid number",
            "number not valid",
            "phone number format",
            "7033009600",
            "9.17033E+11",
            "wrong country",
        ),
        causes=(
            "The spreadsheet has national numbers (07033009600, 9876543210) with no country "
            "code, and WhatsApp needs the full international number.",
            "Excel turned long numbers into 9.17033E+11 or 917033009600.0.",
            "The default country does not fit every contact: a number from another country "
            "written without its code is read as a number of the default country.",
        ),
        how_to_check=(
            "Contacts shows every number in its international form (+ and the country code).",
            "The import wizard's preview gives a verdict per row before anything is saved, and "
            "the import report lists every invalid row with the reason; it can be exported.",
        ),
        fix=(
            "In the import wizard choose the “Country for numbers written without a country "
            "code”. waapp then adds the code, drops the leading 0, and reads 00, +, spaces, "
            "dashes and Excel's number formats; numbers written with + or 00 keep their own "
            "country.",
            "Write contacts from other countries with + and their code in the sheet.",
            "Fix one contact: edit it and choose its country. Fix many: correct the invalid rows "
            "from the exported report and import again; existing contacts are updated or "
            "skipped, never duplicated.",
        ),
        codes=((_TW, "21211"), (_META, "131009"), (_META, "100")),
    ),
    GuideEntry(
        key="stuck-scheduled",
        symptom="The campaign stays in “Scheduled” and never starts",
        also_said=("scheduled but not sent", "did not start", "missed schedule"),
        causes=(
            "waapp sends from your computer: if waapp was closed, or the computer asleep, at "
            "the scheduled time, the campaign could not start.",
            "When you open waapp late, the campaign's missed-schedule policy decides: “Send "
            "anyway”, “Ask me” (it waits for your answer) or “Skip if late” (after the hours "
            "you chose it does not send).",
            "The account was in trouble at the start time (login refused, session "
            "disconnected), so the campaign could not begin.",
        ),
        how_to_check=(
            "The campaign's timeline says when it was due and what happened: missed, waiting "
            "for your answer, or held back by the account.",
            "Diagnostics → Accounts health shows whether the account can send now.",
        ),
        fix=(
            "Keep waapp open and the computer awake at the scheduled time.",
            "Answer waapp's question about the missed schedule, or choose “Send now”.",
            "Change the missed-schedule policy in the campaign's schedule step if you prefer "
            "waapp to send anyway, or to skip when it is late.",
        ),
    ),
    GuideEntry(
        key="stuck-sending",
        symptom="The campaign stays in “Sending” and hardly moves",
        also_said=("stuck in sending", "very slow", "not progressing", "sending forever"),
        causes=(
            "The provider asked waapp to slow down (a rate limit) and waapp waits the time it "
            "was told before going on.",
            "The account reached its daily messaging limit (the number of new people it may "
            "reach in 24 hours); the rest waits for capacity to free up.",
            "Gateway-safe pacing: with a WhatsApp-Web gateway waapp sends slowly on purpose "
            "(random pauses, an hourly cap) to protect the number from a ban.",
            "A few messages have an unknown outcome (the connection dropped while sending); "
            "waapp checks them with the provider before sending anything to those people "
            "again.",
        ),
        how_to_check=(
            "The campaign's progress bar shows the rate and the estimated finish; the timeline "
            "shows each wait and why.",
            "Diagnostics → Accounts health shows the messaging limit of the number.",
            "Diagnostics → Last events shows whether reports still come in.",
        ),
        fix=(
            "Usually nothing: waapp resumes by itself after each wait, and no recipient is "
            "written off because of a rate limit.",
            "For a big list, spread it over several days within your messaging limit; keeping "
            "a good quality rating raises the limit over time.",
            "Lower the pace in the campaign's schedule step if the provider keeps refusing.",
        ),
        codes=(
            (_META, "130429"),
            (_META, "131056"),
            (_TW, "63018"),
            (_TW, "63038"),
            (_WS, "http_429"),
            (_META, "timeout_after_send"),
        ),
    ),
    GuideEntry(
        key="paused-by-itself",
        symptom="The campaign paused by itself",
        also_said=("paused automatically", "auto-paused", "stopped sending on its own"),
        causes=(
            "waapp pauses a campaign when the account is in trouble and sending more would "
            "only fail: the login was refused, the account is blocked or locked, the template "
            "was paused or disabled, the gateway session dropped, WhatsApp's spam limit was "
            "hit, or many messages failed in a row.",
        ),
        how_to_check=(
            "The campaign's timeline gives the reason, with the error and its meaning.",
            "Diagnostics → Accounts health → “Check now” shows whether the account is fine again.",
        ),
        fix=(
            "Fix the cause given on the timeline (see the matching entry of this guide), then "
            "press “Resume”: it continues where it stopped, never sends twice and never skips "
            "anyone.",
            "For the spam limit (131048) or a blocked account (368), stop and improve the "
            "message and the audience first; resuming at once makes it worse.",
        ),
        codes=(
            (_META, "131048"),
            (_META, "368"),
            (_META, "131031"),
            (_META, "132015"),
            (_META, "132016"),
            (_WS, "session_need_scan"),
            (_TW, "20003"),
            (_META, "190"),
        ),
    ),
    GuideEntry(
        key="no-delivery-reports",
        symptom="No delivery reports arrive: messages stay on “Sent”",
        also_said=(
            "no statuses",
            "no delivered or read",
            "webhook not working",
            "status callback",
            "tunnel",
            "forged",
            "signature",
        ),
        causes=(
            "waapp's webhook receiver listens only on this computer (127.0.0.1). A provider on "
            "the internet cannot reach it without a tunnel.",
            "No tunnel command is set, or the tunnel is not running. Quick tunnels get a new "
            "public address every time they start, and the provider still has the old one.",
            "The webhook address at the provider is wrong: each account has its own path "
            "(/webhooks/<account number>); another account's address is refused as "
            "“unknown account”.",
            "The secret does not match (Twilio's auth token, Meta's app secret, WaSender's "
            "webhook secret): waapp refuses the reports as forged.",
            "waapp was closed when the reports were sent. Twilio and WaSender messages are "
            "also asked about (polled) every 30 seconds; Meta has no such fallback.",
        ),
        how_to_check=(
            "Diagnostics → Delivery reports: the receiver should say “listening” and, for a "
            "provider on the internet, the tunnel “running” with a public address.",
            "The counters: “accepted” going up is good; “forged” going up means a wrong "
            "secret; “unknown account” means a wrong address; nothing at all means the "
            "provider cannot reach you.",
        ),
        fix=(
            "Set a tunnel command, for example “cloudflared tunnel --url "
            "http://127.0.0.1:{port}”, and press Apply. waapp starts it, reads its public "
            "address and restarts it when it stops.",
            "Copy the account's public webhook address from Diagnostics and paste it at the "
            "provider: Meta — WhatsApp → Configuration → Callback URL (with the verify token); "
            "Twilio — the account's status callback URL in Accounts (or on your Twilio sender); "
            "WaSender — the session's webhook URL.",
            "For a quick tunnel, paste the new address again after each start, or use a named "
            "tunnel with a fixed address.",
            "Forged: enter the secret again in Accounts, exactly as the provider shows it.",
        ),
    ),
    GuideEntry(
        key="template-paused",
        symptom="Template paused or disabled (132015 / 132016)",
        also_said=("template paused", "template disabled", "low quality template"),
        causes=(
            "Meta pauses a template when its quality drops: people blocked or reported the "
            "messages. A pause lasts a few hours (3 hours the first time, 6 the second); "
            "after repeated pauses Meta disables it for good.",
            "The template was rejected or is still pending approval.",
        ),
        how_to_check=(
            "Templates → “Sync from provider”: the status and quality columns show paused, "
            "disabled, pending or rejected, colour-coded.",
            "A campaign using it pauses itself; its timeline names the template.",
        ),
        fix=(
            "Paused: wait until it is active again (sync the templates to see), then resume "
            "the campaign.",
            "Disabled or rejected: pick another approved template for the campaign, or create "
            "a new one, then resume.",
            "To keep quality up: send to people who expect your messages, make the text "
            "useful, and make it easy to say STOP.",
        ),
        codes=((_META, "132015"), (_META, "132016"), (_META, "132001"), (_TW, "63027")),
    ),
    GuideEntry(
        key="rate-limits",
        symptom="“Too many requests” or “sending too fast” (130429, 63018, 429)",
        also_said=("rate limit", "throttled", "limit reached", "429", "messaging limit"),
        causes=(
            "The number sent faster than the provider allows (about 80 messages a second at "
            "Meta and Twilio).",
            "Too many messages to the same person in a short time (131056).",
            "The daily messaging limit: how many new people the number may reach in 24 hours "
            "(250, 2 000, 10 000, 100 000 or unlimited); at Twilio it shows as 63018.",
            "A WaSender plan limit: one message a minute on a trial, about 256 a minute on "
            "paid plans, one every 5 seconds with Account Protection.",
        ),
        how_to_check=(
            "The campaign's timeline shows each wait the provider asked for.",
            "Diagnostics → Accounts health shows the number's messaging limit.",
        ),
        fix=(
            "Nothing urgent: waapp waits the time the provider asks and continues; no "
            "recipient is lost or written off because of a rate limit.",
            "Lower the campaign's pace, spread a big list over several days, or upgrade the "
            "gateway plan.",
        ),
        codes=(
            (_META, "130429"),
            (_META, "131056"),
            (_META, "80007"),
            (_META, "4"),
            (_TW, "63018"),
            (_TW, "20429"),
            (_TW, "63038"),
            (_WS, "http_429"),
        ),
    ),
    GuideEntry(
        key="login-refused",
        symptom="Login refused or access token expired (401, 20003, 190)",
        also_said=(
            "authentication failed",
            "unauthorized",
            "invalid token",
            "wrong API key",
            "token expired",
        ),
        causes=(
            "Twilio: the Account SID or Auth Token is wrong, or the token was changed in the "
            "Twilio Console.",
            "Meta: the access token expired (the temporary token from the developer console "
            "lasts only 24 hours) or lost a permission.",
            "Kapso or WaSender: the API key is wrong or was regenerated.",
        ),
        how_to_check=(
            "Diagnostics → Accounts health → “Check now”, or Accounts → “Test connection”: a "
            "refused login is shown in red with the provider's words.",
        ),
        fix=(
            "Accounts → edit the account → paste the new token or key → Save, then “Check "
            "now” here.",
            "Meta: create a permanent token for a system user with the "
            "whatsapp_business_messaging and whatsapp_business_management permissions.",
            "Then resume the campaigns that paused; they continue where they stopped.",
        ),
        codes=(
            (_TW, "20003"),
            (_TW, "http_401"),
            (_META, "190"),
            (_META, "0"),
            (_META, "http_401"),
            (_WS, "http_401"),
        ),
    ),
    GuideEntry(
        key="completed-but-missing",
        symptom="The campaign says “Completed”, but some people got nothing",
        also_said=("completed but not everyone got it", "some recipients skipped", "who failed"),
        causes=(
            "Some recipients failed (invalid number, not on WhatsApp, outside the 24-hour "
            "window without a template) or were skipped on purpose (opted out, duplicates).",
            "Their delivery reports have not arrived yet, so they still show “Sent”.",
        ),
        how_to_check=(
            "The campaign's report groups the failures by error, with the meaning and the fix, "
            "and the recipient table filters by status; both can be exported.",
        ),
        fix=(
            "Fix the cause, then use “Retry failed”: only the failed recipients are sent again.",
            "Opted-out people are never messaged; that is on purpose.",
        ),
        codes=((_META, "131050"), (_TW, "63014"), (_TW, "21610")),
    ),
)


def guide() -> list[GuideEntry]:
    """Every entry, most common symptoms first."""
    return list(_GUIDE)


def entry(key: str) -> GuideEntry:
    """The entry with ``key``; ``KeyError`` when there is none."""
    for item in _GUIDE:
        if item.key == key:
            return item
    raise KeyError(key)


_WORD = re.compile(r"[\w+.-]+", re.UNICODE)


def search(query: str) -> list[GuideEntry]:
    """Entries containing every word of ``query`` (any case), those whose symptom or other
    wordings contain them first. An empty query returns the whole guide."""
    words = [w.strip(".-").lower() for w in _WORD.findall(query)]
    words = [w for w in words if w]
    if not words:
        return guide()
    found: list[tuple[int, int, GuideEntry]] = []
    for position, item in enumerate(_GUIDE):
        text = item.text()
        if all(word in text for word in words):
            title = " ".join((item.symptom, *item.also_said)).lower()
            in_title = sum(word in title for word in words)
            found.append((-in_title, position, item))
    return [item for _, _, item in sorted(found, key=lambda t: (t[0], t[1]))]


def entries_for_code(dialect: Dialect | str, code: str | int) -> list[GuideEntry]:
    """The entries that link this error code (``"kapso"`` is read as Meta)."""
    wanted = lookup(str(dialect), code)
    return [
        item
        for item in _GUIDE
        if any(d is wanted.provider and c == wanted.code for d, c in item.codes)
    ]
