"""The one exception tree of waapp.

    WaappError                      every error a user may see: a message, why, what to do
    ├── ValidationError             input that cannot be accepted as given
    │   ├── InvalidPhone            a phone number that cannot be normalised
    │   ├── DuplicateContact        the number already belongs to another contact
    │   ├── DuplicateName           a group / account / template name already in use
    │   └── RenderError             a template that cannot be rendered for a contact
    ├── InvalidTransition           a state machine refused a change of state
    ├── NotFound                    the thing asked for does not exist (any more)
    └── StoreError                  the database cannot be used
        └── DatabaseTooNew          the file was written by a newer waapp

Every error carries ``what_to_do``: plain language for the person in front of the window.
"""

from __future__ import annotations


class WaappError(Exception):
    """Base of every error that reaches the user."""

    what_to_do: str = ""

    def __init__(self, message: str, *, what_to_do: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if what_to_do is not None:
            self.what_to_do = what_to_do

    def __str__(self) -> str:
        return self.message


class ValidationError(WaappError):
    """Input that cannot be accepted as given."""

    what_to_do = "Correct the value and try again."


class InvalidPhone(ValidationError):
    what_to_do = "Write the number with its country code, for example +91 70330 09600."


class DuplicateContact(ValidationError):
    """The normalised number already belongs to ``existing_name`` (id ``existing_id``)."""

    what_to_do = "Open the existing contact instead, or use another number."

    def __init__(self, phone_e164: str, *, existing_id: int, existing_name: str) -> None:
        who = existing_name or "an unnamed contact"
        super().__init__(f"{phone_e164} already belongs to {who}.")
        self.phone_e164 = phone_e164
        self.existing_id = existing_id
        self.existing_name = existing_name


class DuplicateName(ValidationError):
    what_to_do = "Choose a name that is not used yet."


class RenderError(ValidationError):
    what_to_do = "Fill in the missing value for this contact, or map the placeholder to fixed text."


class InvalidTransition(WaappError):
    """A state machine refused ``current -> target``."""

    what_to_do = "Refresh the view: the item may have changed meanwhile."

    def __init__(self, machine: str, current: str, target: str, allowed: frozenset[str]) -> None:
        can = ", ".join(sorted(allowed)) or "nothing (it is final)"
        super().__init__(
            f"A {machine} that is {current} cannot become {target}; from {current} it can become: {can}."
        )
        self.machine = machine
        self.current = current
        self.target = target


class NotFound(WaappError):
    what_to_do = "Refresh the view: it may have been deleted meanwhile."


class StoreError(WaappError):
    what_to_do = "Check that the data folder exists and is writable, then restart waapp."


class DatabaseTooNew(StoreError):
    what_to_do = (
        "This data file was written by a newer version of waapp. Install that version "
        "(or newer) to open it; this version leaves the file untouched."
    )
