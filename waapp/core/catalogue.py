"""The error catalogue: the one place that knows what every provider error means.

For each code named in docs/providers.md it holds the class of the error (what the engine
does with the message or the campaign), a short title, a plain-language meaning for the
person running the campaign, and what they should do. Provider modules map their errors
to a code at the boundary (``ports.ProviderError.code``); the engine and the UI only ever
ask this module, through :func:`lookup` and :func:`classify_http`.

Dialects. There are three: Twilio, Meta (Kapso proxies Meta's API unchanged, so
``"kapso"`` is read as ``"meta"``) and WaSender, which has no codes of its own; its
failure modes get string codes here (``"http_429"``, ``"session_need_scan"`` …).
**The Sandbox is not a dialect**: it imitates one of the three, and the provider module
that talks to it speaks that dialect. :func:`dialect_of` (and so :func:`lookup`) raises
``ValueError`` for ``"sandbox"``; pass the dialect the Sandbox account imitates.

Shared entries. Every dialect also gets the transport entries (``timeout_before_send``,
``connection_failed``, ``timeout_after_send``, ``connection_reset``, ``bad_response``)
and the HTTP-status fallbacks (``http_400`` … ``http_5xx``) used by :func:`classify_http`
when a response carries no code waapp knows. A dialect may override one of them with its
own wording (WaSender's ``http_401`` is about its API key, for instance).

Transport errors, and which side of the request they happened on:

* connect and pool timeouts, refused connections, DNS failures: the request never left,
  so retrying cannot send twice → ``timeout_before_send`` / ``connection_failed``,
  class :attr:`ErrorClass.RETRY_SOON`;
* write and read timeouts, a reset or closed connection after the request started, a
  success answer that cannot be read: the provider **may** have accepted the message →
  ``timeout_after_send`` / ``connection_reset`` / ``bad_response``, class
  :attr:`ErrorClass.UNKNOWN_OUTCOME`. The engine moves the message to ``unknown`` and
  reconciles it (architecture.md, "The engine" step 6); it never resends it blindly.
  These are the errors a provider reports with ``ProviderError.may_have_reached=True``.

Unknown codes. :func:`lookup` never raises for a code it does not know: it returns a
generic entry (``known=False``) of class :attr:`ErrorClass.RETRY_SOON` with a budget of
:data:`UNKNOWN_CODE_ATTEMPTS` sends in all, whose title and meaning name the code. Why not
NEVER: an unrecognised code is most often a new or rare error; a refused message is not
delivered (nor, as far as the providers document, charged), so one or two more tries cost
little and cannot duplicate anything, whereas NEVER would fail recipients for good over
a passing fault nobody has catalogued yet. The budget guarantees the message still ends
in a final state, and an account-wide unknown error is caught by the engine's
failure-rate pause. When the HTTP status is known too, :func:`classify_http` uses the
status instead (a 400 with an unknown code is NEVER), and the meaning names the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

__all__ = [
    "UNKNOWN_CODE_ATTEMPTS",
    "CatalogueEntry",
    "Dialect",
    "ErrorClass",
    "account_advice",
    "classify_http",
    "dialect_of",
    "entries",
    "lookup",
]


class ErrorClass(StrEnum):
    """What the engine does when a send ends with this error."""

    #: Transient: the message goes to ``retry_wait`` with back-off and jitter, honouring
    #: the provider's Retry-After (or ``retry_after`` in WaSender's body) when given.
    RETRY_SOON = "retry_soon"
    #: Minutes to hours away (pair rate, daily limits, 131049 ≥ 24 h): ``retry_wait``
    #: with ``next_attempt_at`` at least ``CatalogueEntry.retry_after`` from now.
    RETRY_LATER = "retry_later"
    #: Fail this recipient for good: invalid number, not on WhatsApp, opted out …
    NEVER = "never"
    #: Outside the 24 h customer-service window (63016 / 131047): re-route the message
    #: to the campaign's approved template, or fail it if there is none.
    NEEDS_TEMPLATE = "needs_template"
    #: Account-level trouble the user can fix (login, blocked or locked account, template
    #: paused or disabled, gateway session lost, spam limit): the campaign pauses itself
    #: with the reason on its timeline; the message goes back to the queue.
    PAUSE_CAMPAIGN = "pause_campaign"
    #: The campaign cannot send at all as configured (template missing or not approved,
    #: wrong sender or phone-number id, a fault that hits every message): it fails.
    FAIL_CAMPAIGN = "fail_campaign"
    #: The request may have reached the provider (timeout after sending it, connection
    #: reset, unreadable success answer): the message becomes ``unknown`` and is
    #: reconciled before anything is sent to that recipient again. Never resent blindly.
    UNKNOWN_OUTCOME = "unknown_outcome"


class Dialect(StrEnum):
    """The error dialect a provider speaks (the Sandbox imitates one of these)."""

    TWILIO = "twilio"
    META = "meta"  # also Kapso, which proxies Meta's API unchanged
    WASENDER = "wasender"


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One provider error, in the user's words and with what the engine should do.

    ``retry_after``: for RETRY_LATER the least wait before the next try (always set);
    for RETRY_SOON the first wait of the back-off when the provider names none. A wait
    the provider gives (Retry-After header, WaSender's ``retry_after``) wins.
    ``max_attempts``: how many sends in all, the first included, this error allows before
    the message fails for good; ``None`` leaves it to the engine's default.
    ``account_wide``: for the RETRY classes, the error is about the sender as a whole
    (rate or daily limit, provider down), not this recipient: the engine should hold the
    whole campaign until the wait is over instead of trying the next recipients.
    PAUSE_CAMPAIGN and FAIL_CAMPAIGN are account-wide by definition.
    ``charged``: whether the provider bills the failed message, when documented.
    ``known``: False only for the generic entry of a code this catalogue does not list.
    ``verified``: False when the provider documents the code too thinly to be sure of
    its meaning (Twilio's legacy-mapped codes); the meaning then says so.
    """

    provider: Dialect
    code: str
    error_class: ErrorClass
    title: str
    meaning: str
    what_to_do: str
    retry_after: timedelta | None = None
    charged: bool | None = None
    max_attempts: int | None = None
    account_wide: bool = False
    known: bool = True
    verified: bool = True

    def __post_init__(self) -> None:
        if not (self.code and self.title and self.meaning and self.what_to_do):
            raise ValueError(f"catalogue entry {self.provider}/{self.code!r} is incomplete")
        if self.error_class is ErrorClass.RETRY_LATER and self.retry_after is None:
            raise ValueError(f"RETRY_LATER entry {self.provider}/{self.code} needs retry_after")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"entry {self.provider}/{self.code}: max_attempts must be >= 1")

    @property
    def account_advice(self) -> str:
        """``what_to_do`` where no campaign is involved (a connection test, a template sync):
        without its “…then resume the campaign” part."""
        return account_advice(self.what_to_do)


_RESUME_AFTER = re.compile(r",? then resume the campaign(?=[.;])")
_RESUME_ONCE = re.compile(r"; resume the campaign once [^.;]*")
_RESUME_ANY = re.compile(r"resume the campaign")


def account_advice(what_to_do: str) -> str:
    """Advice written for a paused campaign, reworded for a check outside any campaign."""
    text = _RESUME_AFTER.sub("", what_to_do)
    text = _RESUME_ONCE.sub("", text)
    return _RESUME_ANY.sub("test the connection again", text)


#: Sends in all (the first included) for a code the catalogue does not know.
UNKNOWN_CODE_ATTEMPTS = 3

_SOON = ErrorClass.RETRY_SOON
_LATER = ErrorClass.RETRY_LATER
_NEVER = ErrorClass.NEVER
_TEMPLATE = ErrorClass.NEEDS_TEMPLATE
_PAUSE = ErrorClass.PAUSE_CAMPAIGN
_FAIL = ErrorClass.FAIL_CAMPAIGN
_UNKNOWN = ErrorClass.UNKNOWN_OUTCOME

_TW = Dialect.TWILIO
_META = Dialect.META
_WS = Dialect.WASENDER

_SECONDS = timedelta(seconds=2)
_MINUTE = timedelta(minutes=1)
_HALF_MINUTE = timedelta(seconds=30)
_HOUR = timedelta(hours=1)
_DAY = timedelta(hours=24)

_THIN = "Twilio documents this code only briefly, so the exact cause may differ."
_UNKNOWN_WHAT = (
    "Nothing to do now: waapp does not send it again blindly. It checks with the provider "
    "where it can; otherwise the campaign view asks you to mark the message as sent or to "
    "send it again."
)
_SLOW_DOWN = "Nothing to do: waapp slows down and tries again by itself."
_RETRY_FAILED = "then retry the campaign's failed messages."

# --- Twilio (providers.md §1.3) ---------------------------------------------------------

_TWILIO: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        _TW,
        "20003",
        _PAUSE,
        "Twilio refused the login",
        "Twilio did not accept the Account SID and Auth Token saved for this account, so "
        "nothing can be sent.",
        "Copy the Account SID and Auth Token again from the Twilio Console into the account "
        "settings, then resume the campaign.",
    ),
    CatalogueEntry(
        _TW,
        "20429",
        _SOON,
        "Too many requests at once",
        "Twilio received more requests at the same moment than your account allows. This "
        "message was not sent, and it is safe to try again.",
        _SLOW_DOWN + " If it happens often, lower the sending speed in the account settings.",
        retry_after=timedelta(seconds=1),
        account_wide=True,
    ),
    CatalogueEntry(
        _TW,
        "21211",
        _NEVER,
        "Phone number not valid",
        "Twilio says this phone number is not valid: it may lack its country code, have too "
        "many or too few digits, or be your own sending number.",
        "Correct the contact's number, written with its country code (for example "
        "+44 7700 900123), " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _TW,
        "21408",
        _NEVER,
        "Country not enabled",
        "Your Twilio account may not send to this person's country, or WhatsApp cannot be "
        "used there at all (Iran, Cuba, Syria, Crimea and North Korea are blocked).",
        "If the country should be allowed, turn it on under Messaging Geo Permissions in the "
        "Twilio Console, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _TW,
        "21610",
        _NEVER,
        "Person unsubscribed",
        "This person asked not to receive your messages (for example by replying STOP), so "
        "Twilio will not deliver to them.",
        "Respect their choice and mark the contact as opted out; only they can undo it, for "
        "example by replying START.",
    ),
    CatalogueEntry(
        _TW,
        "21611",
        _LATER,
        "Twilio's queue is full",
        "Your sender already has so many messages waiting at Twilio that new ones are "
        "refused for now.",
        "Nothing to do: waapp waits and tries again later. Lower the sending speed if it "
        "happens often.",
        retry_after=timedelta(minutes=30),
        account_wide=True,
    ),
    CatalogueEntry(
        _TW,
        "21654",
        _FAIL,
        "Template values without a template",
        "waapp sent values for a template without naming the template, so Twilio refuses "
        "every message. This is a fault in waapp, not in your data.",
        "Check that the campaign has an approved template chosen; if it has, report this to "
        "support with the campaign's name.",
    ),
    CatalogueEntry(
        _TW,
        "92005",
        _FAIL,
        "Template values without a template",
        "waapp sent values for a template without naming the template, so Twilio refuses "
        "every message (this is Twilio's older code for it). This is a fault in waapp.",
        "Check that the campaign has an approved template chosen; if it has, report this to "
        "support with the campaign's name.",
    ),
    CatalogueEntry(
        _TW,
        "63003",
        _NEVER,
        "Number not reachable on WhatsApp",
        "WhatsApp could not find this number: it may be inactive, no longer in use or not valid.",
        "Check the number with the contact, then correct it or remove the contact.",
    ),
    CatalogueEntry(
        _TW,
        "63007",
        _FAIL,
        "Sending number not set up",
        "Twilio has no WhatsApp sender for the sending number of this account: the number "
        "may be wrong, still waiting for approval, or belong to another Twilio account.",
        "Compare the sending number in the account settings with the WhatsApp senders in the "
        "Twilio Console, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _TW,
        "63014",
        _NEVER,
        "Blocked by the person",
        "This person blocked your business or chose not to get messages from you on WhatsApp.",
        "Don't try again; mark the contact as opted out.",
    ),
    CatalogueEntry(
        _TW,
        "63016",
        _TEMPLATE,
        "Outside the 24-hour window",
        "Free text can only be sent within 24 hours of the person's last message to you; "
        "outside that window WhatsApp only accepts an approved template.",
        "waapp sends the campaign's approved template instead when it has one. Otherwise "
        "choose an approved template for the campaign, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _TW,
        "63018",
        _LATER,
        "Sending limit reached",
        "Messages went out faster than WhatsApp allows for your number, or you reached the "
        "number of different people you may message in 24 hours.",
        "Nothing to do now: waapp waits and tries again later. Keeping your quality rating "
        "high lets Meta raise your daily limit.",
        retry_after=_HOUR,
        account_wide=True,
    ),
    CatalogueEntry(
        _TW,
        "63021",
        _NEVER,
        "Message content not accepted",
        "WhatsApp refused what this message contains, for example an unsupported kind of "
        "file, or template text that is over 1,024 characters once the values are filled in.",
        "Shorten this contact's values or use another file, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _TW,
        "63024",
        _NEVER,
        "Not a WhatsApp user",
        "This number cannot receive WhatsApp messages: it has no WhatsApp account, has not "
        "accepted WhatsApp's latest terms, or uses a very old version of the app.",
        "Reach this person another way; retry only if they confirm they now use WhatsApp.",
    ),
    CatalogueEntry(
        _TW,
        "63030",
        _FAIL,
        "Not supported on WhatsApp",
        "The message uses something WhatsApp does not allow here, such as a picture added to "
        "a template that has none, so every message of the campaign is refused.",
        "Remove the attachment or choose a template whose header holds the picture, "
        + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _TW,
        "63032",
        _NEVER,
        "Held back by a WhatsApp experiment",
        "Meta holds back marketing messages from about 1 in 100 people as part of an "
        "experiment, and this person is one of them. You are not charged for it.",
        "Nothing to fix; trying again soon fails the same way, but a later campaign may "
        "reach them.",
        charged=False,
    ),
    CatalogueEntry(
        _TW,
        "63038",
        _LATER,
        "Daily message limit reached",
        "Your Twilio account has sent as many messages as it may in 24 hours.",
        "Nothing to do now: waapp tries again as the limit frees up. To send more per day, "
        "ask Twilio to raise the limit.",
        retry_after=_HOUR,
        account_wide=True,
    ),
    CatalogueEntry(
        _TW,
        "63049",
        _NEVER,
        "Marketing message not delivered by Meta",
        "Meta chose not to deliver this marketing message. Since April 2025 Meta delivers no "
        "marketing messages to United States numbers; elsewhere it limits how many each "
        "person receives.",
        "For United States numbers, send only order or account updates. For others, don't "
        "retry now; a later campaign, some days on, may reach them.",
    ),
    CatalogueEntry(
        _TW,
        "30036",
        _LATER,
        "Waited too long at Twilio",
        "The message waited in Twilio's queue longer than allowed and was dropped unsent, "
        "usually because messages went out faster than your sender can deliver them.",
        "Nothing to do: waapp tries again later. If it happens often, lower the sending "
        "speed in the account settings.",
        retry_after=timedelta(minutes=30),
        account_wide=True,
    ),
    # Codes from Twilio's legacy-WhatsApp mapping; their exact meanings are unverified.
    CatalogueEntry(
        _TW,
        "63001",
        _PAUSE,
        "WhatsApp did not accept your sender",
        "Twilio reported that WhatsApp could not confirm your sender's access. " + _THIN,
        "Check the WhatsApp sender's status in the Twilio Console and fix any warning there, "
        "then resume the campaign; ask Twilio support if it stays.",
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63005",
        _NEVER,
        "WhatsApp did not accept the message",
        "Twilio reported that WhatsApp refused this message's content without saying why. " + _THIN,
        "Check the text and any attachment of this message; if many messages fail this way, "
        "ask Twilio support for details.",
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63012",
        _SOON,
        "Problem on WhatsApp's side",
        "Twilio reported an internal error at WhatsApp, which is usually temporary. " + _THIN,
        "Nothing to do: waapp tries again a few times. If it keeps failing, check Twilio's "
        "status page.",
        retry_after=_MINUTE,
        max_attempts=3,
        account_wide=True,
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63013",
        _NEVER,
        "Against WhatsApp's rules",
        "Twilio reported that this message breaks a WhatsApp rule or lacks a required value. "
        + _THIN,
        "Check this message's values and the template's wording; if many messages fail this "
        "way, ask Twilio support for details.",
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63019",
        _SOON,
        "Attachment could not be fetched",
        "WhatsApp could not download the picture, video or document of this message. " + _THIN,
        "Check that the file's link opens in a browser without logging in; waapp tries once "
        "more by itself.",
        retry_after=timedelta(minutes=5),
        max_attempts=2,
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63020",
        _PAUSE,
        "Business account problem",
        "Twilio reported a problem with your Meta business account, possibly its approval or "
        "payment details. " + _THIN,
        "Check your business account and payment method in Meta Business Manager and the "
        "Twilio Console, then resume the campaign.",
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63022",
        _PAUSE,
        "Sender's business name not accepted",
        "Twilio reported a problem with the approved business name of your WhatsApp sender. "
        + _THIN,
        "Check the sender's display name and its status in the Twilio Console, then resume "
        "the campaign.",
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63025",
        _NEVER,
        "Already exists at WhatsApp",
        "Twilio reported that something in this message already exists at WhatsApp, perhaps "
        "the same message sent before; waapp does not resend it, to avoid a duplicate. " + _THIN,
        "Check in the Twilio Console whether the person got the message, and send it again "
        "by hand only if they did not.",
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63027",
        _FAIL,
        "Template not found",
        "WhatsApp has no approved template with this name in the chosen language. " + _THIN,
        "Refresh the templates and choose one approved in the right language, " + _RETRY_FAILED,
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63028",
        _FAIL,
        "Wrong number of template values",
        "The template expects a different number of values than the campaign fills in, so "
        "every message is refused. " + _THIN,
        "Refresh the templates, map every placeholder of the template in the campaign, "
        + _RETRY_FAILED,
        verified=False,
    ),
    CatalogueEntry(
        _TW,
        "63029",
        _SOON,
        "Template could not be loaded",
        "Twilio reported that the person's WhatsApp could not load the template, which may be "
        "temporary. " + _THIN,
        "Nothing to do: waapp tries once more later. If it fails again, check that the "
        "template is still approved.",
        retry_after=timedelta(minutes=5),
        max_attempts=2,
        verified=False,
    ),
)

# --- Meta Cloud API, also Kapso (providers.md §2.3) ---------------------------------------

_NEW_TOKEN = (
    "Create a new access token in Meta Business Manager (a system-user token does not "
    "expire) and paste it into the account settings, then resume the campaign."
)

_META_ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        _META,
        "0",
        _PAUSE,
        "Meta refused the login",
        "Meta could not confirm the access token saved for this account (the long key that "
        "lets waapp send for you); it may have expired or been withdrawn.",
        _NEW_TOKEN,
    ),
    CatalogueEntry(
        _META,
        "3",
        _PAUSE,
        "Sending not allowed for this app",
        "Meta says the app behind your access token is not allowed to send WhatsApp messages.",
        "In Meta Business Manager give the app the WhatsApp messaging permission and create "
        "a new access token, then paste it into the account settings and resume.",
    ),
    CatalogueEntry(
        _META,
        "10",
        _PAUSE,
        "Permission missing",
        "Meta says your access token does not have, or no longer has, permission to send "
        "for this phone number.",
        "In Meta Business Manager check that the token's user has the WhatsApp permissions "
        "for this account; paste a new token into the settings, then resume.",
    ),
    CatalogueEntry(
        _META,
        "200-299",
        _PAUSE,
        "Permission missing",
        "Meta refused because your access token lacks a permission needed to send (Meta uses "
        "the codes 200 to 299 for these).",
        "In Meta Business Manager check that the token's user has the WhatsApp permissions "
        "for this account; paste a new token into the settings, then resume.",
    ),
    CatalogueEntry(
        _META,
        "190",
        _PAUSE,
        "Access token expired",
        "The access token saved for this account has expired or was withdrawn, so Meta "
        "refuses every message.",
        _NEW_TOKEN,
    ),
    CatalogueEntry(
        _META,
        "4",
        _SOON,
        "Too many requests",
        "Your Meta app made more requests than allowed in a short time. This message was not sent.",
        _SLOW_DOWN,
        retry_after=_MINUTE,
        account_wide=True,
    ),
    CatalogueEntry(
        _META,
        "80007",
        _SOON,
        "Too many requests for your business account",
        "Your WhatsApp business account reached Meta's limit on requests. This message was "
        "not sent.",
        _SLOW_DOWN,
        retry_after=_MINUTE,
        account_wide=True,
    ),
    CatalogueEntry(
        _META,
        "130429",
        _SOON,
        "Sending too fast",
        "Messages went out faster than your phone number may send per second. This message "
        "was not sent.",
        _SLOW_DOWN + " If it happens often, lower the sending speed in the account settings.",
        retry_after=_SECONDS,
        account_wide=True,
    ),
    CatalogueEntry(
        _META,
        "131056",
        _LATER,
        "Too many messages to this person",
        "Several messages went to this same person in a short time, so WhatsApp holds the "
        "next ones back for a moment.",
        "Nothing to do: waapp waits a minute and tries again. Avoid listing the same person "
        "twice in a campaign.",
        retry_after=_MINUTE,
    ),
    CatalogueEntry(
        _META,
        "131048",
        _PAUSE,
        "Too many messages blocked or reported",
        "Meta limited your number because many of your recent messages were blocked or "
        "reported as spam by the people who got them.",
        "Stop for now: check your quality rating in WhatsApp Manager, send only to people "
        "who expect your messages, and resume later.",
    ),
    CatalogueEntry(
        _META,
        "131064",
        _PAUSE,
        "Limited over template categories",
        "Meta limited your messaging because templates were sent under the wrong category, "
        "for example marketing filed as an order update.",
        "Correct or recreate the wrongly filed templates in WhatsApp Manager, then resume the "
        "campaign once Meta lifts the limit.",
    ),
    CatalogueEntry(
        _META,
        "133016",
        _LATER,
        "Number registration on hold",
        "Your phone number was registered and unregistered too many times, so Meta blocks "
        "new attempts for a while; until then it may not send.",
        "Don't try to register the number again for now. waapp tries again in a day; contact "
        "Meta support if it lasts longer.",
        retry_after=_DAY,
        account_wide=True,
    ),
    CatalogueEntry(
        _META,
        "368",
        _PAUSE,
        "Blocked for a policy breach",
        "Meta blocked your account from sending for a while because it broke WhatsApp's "
        "business policies.",
        "Read the notice in WhatsApp Manager, fix what it names or appeal there, and resume "
        "the campaign once the block ends.",
    ),
    CatalogueEntry(
        _META,
        "131031",
        _PAUSE,
        "Business account locked",
        "Meta locked your WhatsApp business account, for example after a policy breach, so "
        "no message can be sent.",
        "Open WhatsApp Manager to see why and request a review; resume the campaign once the "
        "account is unlocked.",
    ),
    CatalogueEntry(
        _META,
        "130497",
        _NEVER,
        "Country not allowed for your business",
        "Meta does not allow your business to message people in this person's country.",
        "Leave this contact out of campaigns; contact Meta support if your business should "
        "be allowed there.",
    ),
    CatalogueEntry(
        _META,
        "130472",
        _NEVER,
        "Held back by a WhatsApp experiment",
        "Meta holds back marketing messages from a small share of people as part of an "
        "experiment, and this person is one of them. You are not charged for it.",
        "Nothing to fix; trying again soon fails the same way, but a later campaign may "
        "reach them.",
        # The same case as Twilio's 63032 (legacy code 472), documented as not charged.
        charged=False,
    ),
    CatalogueEntry(
        _META,
        "131026",
        _NEVER,
        "Message could not be delivered",
        "This number cannot receive the message: it may not use WhatsApp, may not have "
        "accepted WhatsApp's latest terms, or may have a very old version of the app.",
        "Reach this person another way; retry only if they confirm they now use WhatsApp.",
    ),
    CatalogueEntry(
        _META,
        "131047",
        _TEMPLATE,
        "Outside the 24-hour window",
        "More than 24 hours have passed since this person last wrote to you, so WhatsApp "
        "only accepts an approved template, not free text.",
        "waapp sends the campaign's approved template instead when it has one. Otherwise "
        "choose an approved template for the campaign, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "131049",
        _LATER,
        "Held back to avoid too much marketing",
        "Meta did not deliver this marketing message because it limits how many marketing "
        "messages each person receives.",
        "Nothing to do: waapp tries once more after 24 hours. Fewer, more useful marketing "
        "messages get through more often.",
        retry_after=_DAY,
        max_attempts=2,
    ),
    CatalogueEntry(
        _META,
        "131050",
        _NEVER,
        "Person stopped your marketing messages",
        "This person chose in WhatsApp to stop receiving marketing messages from your business.",
        "Don't send them marketing messages; order or account updates can still reach them.",
    ),
    CatalogueEntry(
        _META,
        "131030",
        _NEVER,
        "Number not on the test list",
        "Your WhatsApp number is still in test mode and may only send to the numbers on its "
        "allowed list; this person is not on it.",
        "Add the number to the allowed list in Meta's developer dashboard, or finish setting "
        "up a live phone number, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "131051",
        _FAIL,
        "Message type not supported",
        "WhatsApp does not support the kind of message waapp tried to send, so every message "
        "of the campaign is refused. This is most likely a fault in waapp.",
        "Report this to support with the campaign's name; a different template may work meanwhile.",
    ),
    CatalogueEntry(
        _META,
        "131052",
        _SOON,
        "Attachment could not be downloaded",
        "WhatsApp could not download a picture, video or document that belongs to the message.",
        "Check that the file's link opens in a browser without logging in; waapp tries once "
        "more by itself.",
        retry_after=timedelta(minutes=5),
        max_attempts=2,
    ),
    CatalogueEntry(
        _META,
        "131053",
        _PAUSE,
        "Attachment could not be uploaded",
        "WhatsApp could not take the campaign's picture, video or document: the file may be "
        "too large, of a kind it does not accept, or its link may not work.",
        "Fix or replace the file and check that its link opens in a browser, then resume "
        "the campaign.",
    ),
    CatalogueEntry(
        _META,
        "131008",
        _NEVER,
        "A required value is missing",
        "A value the message needs is empty, often a contact field used in the template that "
        "this contact has left blank.",
        "Fill in the contact's missing field, or map the placeholder to fixed text, "
        + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "131009",
        _NEVER,
        "A value is not valid",
        "Meta found a value in this message it cannot accept, such as a badly written phone "
        "number or a value of the wrong kind.",
        "Check this contact's number and the values used in the template, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "132000",
        _FAIL,
        "Wrong number of template values",
        "The campaign fills in a different number of values than the template has "
        "placeholders, so every message is refused.",
        "Refresh the templates, map every placeholder of the template in the campaign, "
        + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "132001",
        _FAIL,
        "Template not found or not approved",
        "Meta has no approved template with this name in this language.",
        "Refresh the templates and choose one approved in the language you need, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "132005",
        _NEVER,
        "Template text too long",
        "With this contact's values filled in, the template's text is longer than WhatsApp allows.",
        "Shorten this contact's values or the fixed text you mapped, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "132007",
        _NEVER,
        "Template formatting rules broken",
        "The message breaks WhatsApp's formatting rules for templates, often because a value "
        "contains line breaks, tabs or many spaces in a row.",
        "Remove line breaks, tabs and repeated spaces from this contact's values, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "132008",
        _NEVER,
        "Template value not accepted",
        "One of the values filled into the template is not in a form WhatsApp accepts.",
        "Check the contact's values used in the template, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "132012",
        _FAIL,
        "Template values of the wrong kind",
        "The values sent do not match what the template expects, for example text where it "
        "expects a picture, so every message is refused.",
        "Refresh the templates and check the campaign's mapping and header picture, "
        + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "132015",
        _PAUSE,
        "Template paused",
        "Meta paused this template because people reacted badly to it (its quality rating is low).",
        "Choose another approved template for the campaign, or edit this one and wait for "
        "approval, then resume.",
    ),
    CatalogueEntry(
        _META,
        "132016",
        _PAUSE,
        "Template disabled",
        "Meta disabled this template for good after repeated low quality ratings.",
        "Choose another approved template for the campaign, or create a new one, then resume.",
    ),
    CatalogueEntry(
        _META,
        "131000",
        _SOON,
        "Unexplained error at Meta",
        "Meta reported that something went wrong without saying what.",
        "Nothing to do: waapp tries again a few times. If many messages fail this way, check "
        "Meta's status page (metastatus.com).",
        retry_after=_MINUTE,
        max_attempts=3,
    ),
    CatalogueEntry(
        _META,
        "131016",
        _SOON,
        "WhatsApp service unavailable",
        "Meta's WhatsApp service is temporarily unavailable. This message was not sent.",
        "Nothing to do: waapp waits and tries again.",
        retry_after=_HALF_MINUTE,
        account_wide=True,
    ),
    CatalogueEntry(
        _META,
        "131005",
        _PAUSE,
        "Access denied",
        "Meta refused access: your access token has no permission for this phone number or "
        "business account.",
        "In Meta Business Manager check that the token's user has the WhatsApp permissions "
        "for this account; paste a new token into the settings, then resume.",
    ),
    CatalogueEntry(
        _META,
        "131021",
        _NEVER,
        "Sending to yourself",
        "This contact's number is the number you send from, and WhatsApp does not allow "
        "sending to yourself.",
        "Remove your own number from the campaign's contacts.",
    ),
    CatalogueEntry(
        _META,
        "131042",
        _PAUSE,
        "Payment problem",
        "Meta could not charge your payment method, so your account cannot send paid messages.",
        "Fix the payment method under Billing in Meta Business Manager, then resume the campaign.",
    ),
    CatalogueEntry(
        _META,
        "131045",
        _PAUSE,
        "Phone number not registered properly",
        "Meta says your phone number is not properly registered for sending.",
        "Register the phone number again in WhatsApp Manager, then resume the campaign.",
    ),
    CatalogueEntry(
        _META,
        "131057",
        _LATER,
        "Account under maintenance",
        "Your business account is in maintenance for a short while, for example while Meta "
        "raises its sending speed.",
        "Nothing to do: waapp tries again in a few minutes.",
        retry_after=timedelta(minutes=5),
        account_wide=True,
    ),
    CatalogueEntry(
        _META,
        "131037",
        _PAUSE,
        "Business name not approved",
        "The business name shown on your phone number has not been approved by Meta yet, so "
        "it cannot send.",
        "Check the display name's review in WhatsApp Manager and change it if it was "
        "rejected; resume the campaign once it is approved.",
    ),
    CatalogueEntry(
        _META,
        "135000",
        _SOON,
        "General refusal from Meta",
        "Meta refused the message with a general error and no details; the request may "
        "contain something it does not accept.",
        "Nothing to do: waapp tries once more. If many messages fail this way, report it to "
        "support with the campaign's name.",
        retry_after=_MINUTE,
        max_attempts=2,
    ),
    CatalogueEntry(
        _META,
        "100",
        _FAIL,
        "Wrong setting or value",
        "Meta rejected a value in the request, most often a wrong phone number ID in the "
        "account settings, so no message can be sent.",
        "Compare the phone number ID and business account ID in the account settings with "
        "WhatsApp Manager, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _META,
        "1",
        _SOON,
        "Temporary error at Meta",
        "Meta could not handle the request, probably because of a passing problem on its side.",
        "Nothing to do: waapp tries again a few times.",
        retry_after=_MINUTE,
        max_attempts=3,
    ),
    CatalogueEntry(
        _META,
        "2",
        _SOON,
        "Meta's service unavailable",
        "Meta's service is temporarily down or overloaded. This message was not sent.",
        "Nothing to do: waapp waits and tries again.",
        retry_after=_HALF_MINUTE,
        account_wide=True,
    ),
    CatalogueEntry(
        _META,
        "http_401",
        _PAUSE,
        "Login refused",
        "Meta (or Kapso, when you send through it) did not accept the access token or API key "
        "saved for this account, so nothing can be sent.",
        "Paste a valid access token, or your Kapso API key, into the account settings, then "
        "resume the campaign.",
    ),
)

# --- WaSender (providers.md §3.3, §3.4): no codes of its own, so these are ours ----------

_RELINK = "then resume the campaign."

_WASENDER: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        _WS,
        "http_401",
        _PAUSE,
        "WaSender API key refused",
        "WaSender did not accept the API key saved for this account: it may be missing, "
        "mistyped, or belong to a session that was deleted.",
        "Copy the session's API key from your WaSender dashboard into the account settings, "
        + _RELINK,
    ),
    CatalogueEntry(
        _WS,
        "http_403",
        _PAUSE,
        "WaSender refused access",
        "WaSender refused the request, perhaps because your plan has ended or access was "
        "suspended for misuse; WaSender documents this case only briefly.",
        "Check your plan and any notice in your WaSender dashboard, " + _RELINK,
    ),
    CatalogueEntry(
        _WS,
        "http_422",
        _NEVER,
        "Message not accepted",
        "WaSender rejected this message as invalid, usually because of the phone number or "
        "an empty text.",
        "Check the contact's number (with its country code) and the message text, " + _RETRY_FAILED,
    ),
    CatalogueEntry(
        _WS,
        "http_429",
        _SOON,
        "Sending too fast for your plan",
        "You sent more messages than WaSender allows per minute: a trial allows one a minute, "
        "and Account Protection one every 5 seconds.",
        "Nothing to do: waapp waits as long as WaSender asks and tries again. Lower the "
        "sending speed in the account settings to avoid it.",
        retry_after=_MINUTE,
        account_wide=True,
    ),
    CatalogueEntry(
        _WS,
        "http_5xx",
        _SOON,
        "WaSender is having trouble",
        "WaSender had a problem on its side and did not take the message.",
        "Nothing to do: waapp waits and tries again. If it lasts, check your WaSender dashboard.",
        retry_after=_HALF_MINUTE,
        account_wide=True,
    ),
    CatalogueEntry(
        _WS,
        "session_need_scan",
        _PAUSE,
        "Scan the QR code again",
        "Your WhatsApp session at WaSender is waiting for its QR code to be scanned, so "
        "nothing can be sent.",
        "Open your WaSender dashboard, show the session's QR code and scan it with WhatsApp "
        "on your phone (Settings, Linked devices), " + _RELINK,
    ),
    CatalogueEntry(
        _WS,
        "session_disconnected",
        _PAUSE,
        "WhatsApp session disconnected",
        "Your WhatsApp session at WaSender is disconnected, so nothing can be sent.",
        "Check that your phone is on and online and reconnect the session in your WaSender "
        "dashboard, " + _RELINK,
    ),
    CatalogueEntry(
        _WS,
        "session_logged_out",
        _PAUSE,
        "Logged out of WhatsApp",
        "WhatsApp logged your WaSender session out, for example because it was removed from "
        "Linked devices on your phone.",
        "Connect the session again in your WaSender dashboard and scan the QR code with your "
        "phone, " + _RELINK,
    ),
    CatalogueEntry(
        _WS,
        "session_expired",
        _PAUSE,
        "WhatsApp session expired",
        "Your WaSender session has expired and must be linked again before anything can be sent.",
        "Check that your WaSender plan is active, reconnect the session in the dashboard and "
        "scan the QR code, " + _RELINK,
    ),
    CatalogueEntry(
        _WS,
        "session_connecting",
        _PAUSE,
        "WhatsApp session still connecting",
        "Your WaSender session is still connecting to WhatsApp, which usually takes less "
        "than a minute.",
        "Wait a minute and resume the campaign; if it stays connecting, reconnect the "
        "session in your WaSender dashboard.",
    ),
    CatalogueEntry(
        _WS,
        "not_on_whatsapp",
        _NEVER,
        "Not a WhatsApp user",
        "WaSender found no WhatsApp account for this number.",
        "Check the number (with its country code) with the contact, or reach them another way.",
    ),
    CatalogueEntry(
        _WS,
        "message_error",
        _NEVER,
        "Message failed",
        "WaSender reported that this message failed, without saying why.",
        "Check the contact's number and that your phone is online; if both are fine, retry "
        "the campaign's failed messages later.",
    ),
)

# --- shared by every dialect: transport errors and HTTP-status fallbacks -------------------

_SERVICE_NAME = {_TW: "Twilio", _META: "the WhatsApp service", _WS: "WaSender"}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shared(p: Dialect) -> tuple[CatalogueEntry, ...]:
    """The entries every dialect has, worded with the provider's name."""
    name = _SERVICE_NAME[p]
    return (
        CatalogueEntry(
            p,
            "timeout_before_send",
            _SOON,
            f"Could not reach {name}",
            f"Connecting to {name} took too long, so the message was not sent.",
            "Nothing to do: waapp tries again. If it keeps happening, check your internet "
            "connection.",
            retry_after=timedelta(seconds=10),
        ),
        CatalogueEntry(
            p,
            "connection_failed",
            _SOON,
            f"No connection to {name}",
            f"waapp could not connect to {name}, so the message was not sent.",
            "Check your internet connection; waapp tries again by itself.",
            retry_after=_HALF_MINUTE,
            account_wide=True,
        ),
        CatalogueEntry(
            p,
            "timeout_after_send",
            _UNKNOWN,
            f"No answer from {name}",
            f"The message was handed to {name} but no answer came back in time, so waapp "
            "cannot tell whether it was sent.",
            _UNKNOWN_WHAT,
        ),
        CatalogueEntry(
            p,
            "connection_reset",
            _UNKNOWN,
            "Connection lost while sending",
            f"The connection to {name} broke while the message was being sent, so waapp "
            "cannot tell whether it went out.",
            _UNKNOWN_WHAT,
        ),
        CatalogueEntry(
            p,
            "bad_response",
            _UNKNOWN,
            f"Unreadable answer from {name}",
            f"{_cap(name)} answered, but waapp could not read the answer, so it cannot tell "
            "whether the message was accepted.",
            _UNKNOWN_WHAT,
        ),
        CatalogueEntry(
            p,
            "http_3xx",
            _FAIL,
            "Wrong server address",
            f"{_cap(name)} answered with a redirection, which usually means the server "
            "address in the account settings is wrong, so no message can be sent.",
            "Check the server address in the account settings, " + _RETRY_FAILED,
        ),
        CatalogueEntry(
            p,
            "http_400",
            _NEVER,
            "Message refused",
            f"{_cap(name)} refused this message as invalid without a reason waapp knows.",
            "Check this contact's number and values, "
            + _RETRY_FAILED
            + " If every message fails this way, report it to support.",
        ),
        CatalogueEntry(
            p,
            "http_401",
            _PAUSE,
            "Login refused",
            f"{_cap(name)} did not accept the login details saved for this account, so "
            "nothing can be sent.",
            "Enter the account's login details again in the account settings, then resume "
            "the campaign.",
        ),
        CatalogueEntry(
            p,
            "http_403",
            _PAUSE,
            "Access refused",
            f"{_cap(name)} refused access for this account: a permission is missing or the "
            "account is blocked.",
            "Check the account's permissions and any notice in the provider's dashboard, "
            "then resume the campaign.",
        ),
        CatalogueEntry(
            p,
            "http_404",
            _FAIL,
            "Not found",
            f"{_cap(name)} could not find what waapp asked for, most often because an ID or "
            "the server address in the account settings is wrong, so no message can be sent.",
            "Check the IDs and server address in the account settings, " + _RETRY_FAILED,
        ),
        CatalogueEntry(
            p,
            "http_408",
            _SOON,
            f"{_cap(name)} stopped waiting",
            f"{_cap(name)} gave up waiting for the message to arrive and did not take it.",
            "Nothing to do: waapp tries again. If it keeps happening, check your internet "
            "connection.",
            retry_after=timedelta(seconds=10),
        ),
        CatalogueEntry(
            p,
            "http_422",
            _NEVER,
            "Message refused",
            f"{_cap(name)} refused this message because a value in it is not valid.",
            "Check this contact's number and values, " + _RETRY_FAILED,
        ),
        CatalogueEntry(
            p,
            "http_429",
            _SOON,
            "Too many requests",
            f"{_cap(name)} received more requests than allowed in a short time; this message "
            "was not sent.",
            _SLOW_DOWN,
            retry_after=_HALF_MINUTE,
            account_wide=True,
        ),
        CatalogueEntry(
            p,
            "http_4xx",
            _NEVER,
            "Message refused",
            f"{_cap(name)} refused this message without a reason waapp knows.",
            "Check this contact's number and values, "
            + _RETRY_FAILED
            + " If every message fails this way, report it to support.",
        ),
        CatalogueEntry(
            p,
            "http_5xx",
            _SOON,
            f"Trouble at {name}",
            f"{_cap(name)} had a problem on its side and did not take the message.",
            "Nothing to do: waapp waits and tries again. If it lasts, check the provider's "
            "status page.",
            retry_after=_HALF_MINUTE,
            account_wide=True,
        ),
    )


_OWN: dict[Dialect, tuple[CatalogueEntry, ...]] = {
    _TW: _TWILIO,
    _META: _META_ENTRIES,
    _WS: _WASENDER,
}

#: Numeric ranges that share one entry: (dialect, lowest, highest, key of the entry).
_RANGES: tuple[tuple[Dialect, int, int, str], ...] = ((_META, 200, 299, "200-299"),)


def _build() -> tuple[CatalogueEntry, ...]:
    """Every entry, grouped by dialect: its own first, then the shared ones not overridden."""
    built: list[CatalogueEntry] = []
    for provider in Dialect:
        own = _OWN[provider]
        codes = [e.code for e in own]
        if len(codes) != len(set(codes)):
            raise ValueError(f"duplicate code in the {provider} table")
        built.extend(own)
        built.extend(e for e in _shared(provider) if e.code not in codes)
    return tuple(built)


_ENTRIES = _build()
_INDEX: dict[tuple[Dialect, str], CatalogueEntry] = {(e.provider, e.code): e for e in _ENTRIES}

_DIALECTS = {"twilio": _TW, "meta": _META, "kapso": _META, "wasender": _WS}


# --- the public functions ------------------------------------------------------------------


def entries() -> list[CatalogueEntry]:
    """Every entry, grouped by dialect (for tests and the troubleshooting guide).

    The shared transport and HTTP entries appear once per dialect.
    """
    return list(_ENTRIES)


def dialect_of(provider: str) -> Dialect:
    """The error dialect of a provider or account kind: ``"kapso"`` → ``Dialect.META``.

    Raises ``ValueError`` for ``"sandbox"`` (it imitates one of the three dialects; pass
    that one) and for any name that is not a provider: both are programming errors.
    """
    key = str(provider).strip().lower()
    dialect = _DIALECTS.get(key)
    if dialect is not None:
        return dialect
    if key == "sandbox":
        raise ValueError(
            "The Sandbox has no error dialect of its own: it speaks Twilio's, Meta's or "
            "WaSender's. Look errors up with the dialect the Sandbox account imitates."
        )
    raise ValueError(f"Unknown provider {provider!r}: expected one of {sorted(_DIALECTS)}.")


def lookup(provider: str, code: str | int) -> CatalogueEntry:
    """The entry for ``code`` in ``provider``'s dialect; never raises for an unknown code.

    ``code`` may be an int or a string (``131047``, ``"131047"``, ``" http_429 "``).
    A Meta code in 200–299 and an ``http_NNN`` code without an entry of its own return
    their range's entry carrying the exact code. A code the catalogue does not know
    returns a generic RETRY_SOON entry with ``known=False`` and a budget of
    :data:`UNKNOWN_CODE_ATTEMPTS` sends (see the module docstring for why), whose title
    and meaning name the code. Raises ``ValueError`` only for a provider that is not a
    dialect, ``"sandbox"`` included.
    """
    dialect = dialect_of(provider)
    text = _normalise(code)
    return _find(dialect, text) or _unknown_code(dialect, text)


def classify_http(provider: str, status: int, code: str | int | None = None) -> CatalogueEntry:
    """The entry for a refused response, from its HTTP ``status`` and provider ``code``.

    A code the catalogue knows always wins over the status. Otherwise the status decides:
    401 and 403 → PAUSE_CAMPAIGN (login or permission, account-wide); 429, 408 and 5xx →
    RETRY_SOON; 404 and 3xx → FAIL_CAMPAIGN (a wrong ID or address fails every message);
    400, 422 and any other 4xx → NEVER. A status below 400 (or not a real HTTP status)
    means a success answer waapp could not read → ``bad_response``, UNKNOWN_OUTCOME.
    An unknown ``code`` is named in the meaning of the entry returned.
    """
    dialect = dialect_of(provider)
    raw = "" if code is None else _normalise(code)
    if raw:
        known = _find(dialect, raw)
        if known is not None:
            return known
    entry = _by_status(dialect, status)
    if raw:
        entry = replace(
            entry,
            meaning=f"{entry.meaning} Its error code was {raw}, which waapp does not "
            "recognise yet.",
        )
    return entry


# --- internals -----------------------------------------------------------------------------


def _normalise(code: str | int) -> str:
    text = str(code).strip().lower()
    if text.isdigit():
        return str(int(text))  # "0131047" and 131047 are the same code
    return text


def _find(dialect: Dialect, code: str) -> CatalogueEntry | None:
    entry = _INDEX.get((dialect, code))
    if entry is not None:
        return entry
    if code.isdigit():
        number = int(code)
        for range_dialect, lowest, highest, key in _RANGES:
            if range_dialect is dialect and lowest <= number <= highest:
                return replace(_INDEX[(dialect, key)], code=code)
    if len(code) == 8 and code.startswith("http_") and code[5:].isdigit():
        family = _INDEX.get((dialect, f"http_{code[5]}xx"))
        if family is not None:
            return replace(family, code=code)
    return None


def _by_status(dialect: Dialect, status: int) -> CatalogueEntry:
    if 300 <= status <= 599:
        found = _find(dialect, f"http_{status}")
        if found is not None:
            return found
    return _INDEX[(dialect, "bad_response")]


def _unknown_code(dialect: Dialect, code: str) -> CatalogueEntry:
    shown = code or "(empty)"
    return CatalogueEntry(
        dialect,
        code or "unknown",
        _SOON,
        f"Unrecognised error {shown}",
        f"{_cap(_SERVICE_NAME[dialect])} reported error code {shown}, which waapp does not "
        "recognise yet.",
        "Nothing to do now: waapp tries this message again a couple of times before marking "
        "it failed. If many messages fail with this code, report it to support.",
        retry_after=_MINUTE,
        max_attempts=UNKNOWN_CODE_ATTEMPTS,
        known=False,
    )
