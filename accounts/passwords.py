"""What a password must be: long enough, and not guessable (zxcvbn).

zxcvbn estimates how many guesses a password takes, knowing the common passwords, words,
names, keyboard patterns, sequences, repeats and dates, and the user's own details (email,
name) given as `user_inputs`. A password must reach PASSWORD_MIN_SCORE (3: "safely
unguessable", about 10^8 guesses). Its feedback is English only, so we say why in our own
words, translated, from the kind of weakness it found.
"""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import lazy_gettext as _l
from zxcvbn import zxcvbn

from core.errors import ValidationFailed

# zxcvbn's time grows quickly with the length; past this many characters a password is
# judged on its beginning, which is then long enough to be strong on its own or not.
_CHECKED_LENGTH = 64

# Words any guesser tries first here, which zxcvbn's English lists do not hold.
LOCAL_WORDS = ("contrasenya", "contraseña", "clau", "clave", "secret", "secreto", "ajuntament",
               "ayuntamiento", "consell", "comarcal", "comarca", "municipio", "municipalidad",
               "oficina", "informatica", "catalunya", "barcelona", "manresa", "bages", "madrid",
               "espana", "argentina", "buenosaires", "benvingut", "bienvenido", "hola")

WEAKNESS_MESSAGES = {
    "common": _l("This is one of the most used passwords."),
    "personal": _l("It contains your name or your email address."),
    "words": _l("Common words and names alone are easy to guess."),
    "keyboard": _l("Keyboard patterns such as qwerty or asdf are easy to guess."),
    "sequence": _l("Sequences such as 1234 or abcd are easy to guess."),
    "repeat": _l("Repeated characters or groups, such as aaaa or abcabc, are easy to guess."),
    "date": _l("Dates and years are easy to guess."),
    "short": _l("It is too short to be hard to guess."),
}
ADVICE = _l("Use three or four unrelated words, or a longer password.")


def user_inputs(email: str | None = None, name: str | None = None, extra=()) -> list[str]:
    """The user's own details, in the pieces a guesser would try."""
    out: list[str] = []
    local = email.split("@", 1)[0] if email else None
    for value in (email, local, name, *extra):
        if not value:
            continue
        value = str(value).strip().lower()
        out.append(value)
        out += [p for p in re.split(r"[^\w]+", value) if len(p) >= 3]
    return list(dict.fromkeys(out))


def _weakness(result: dict, inputs: list[str]) -> str:
    """The main reason a password was judged weak, as one of WEAKNESS_MESSAGES' keys."""
    ranked = []
    for match in result.get("sequence", []):
        pattern = match.get("pattern")
        if pattern == "dictionary":
            name = match.get("dictionary_name")
            kind = ("personal" if name == "user_inputs" and match.get("matched_word") in inputs else
                    "common" if name == "passwords" else "words")
        elif pattern == "spatial":
            kind = "keyboard"
        elif pattern in ("sequence", "repeat", "date"):
            kind = pattern
        elif pattern == "regex":
            kind = "date" if match.get("regex_name") == "recent_year" else "sequence"
        else:
            continue
        ranked.append(kind)
    order = ("personal", "common", "keyboard", "sequence", "repeat", "date", "words")
    return min(ranked, key=order.index) if ranked else "short"


class _Joined:
    """Lazy strings joined when shown, so that a refusal raised outside a request (CLI,
    services) still speaks the language of whoever reads it."""

    def __init__(self, parts):
        self.parts = parts

    def __str__(self) -> str:
        return " ".join(str(p) for p in self.parts)


def _verdict(password: str, email: str | None, name: str | None) -> tuple[bool, int, list]:
    cfg = current_app.config
    minimum = cfg["PASSWORD_MIN_LENGTH"]
    password = password or ""
    if len(password) < minimum:
        return False, 0, [_l("Use at least %(n)d characters.", n=minimum)]
    if email and password.strip().lower() == email.strip().lower():
        return False, 0, [_l("The password cannot be your email address.")]
    mine = user_inputs(email, name)
    inputs = mine + [w for w in LOCAL_WORDS if w not in mine]
    result = zxcvbn(password[:_CHECKED_LENGTH], user_inputs=inputs)
    score = int(result["score"])
    if score >= cfg["PASSWORD_MIN_SCORE"]:
        return True, score, []
    # Only the user's own details count as "personal"; the local words are common words.
    reason = _weakness(result, mine)
    return False, score, [_l("This password is too easy to guess."), WEAKNESS_MESSAGES[reason], ADVICE]


def assess(password: str, email: str | None = None, name: str | None = None) -> dict:
    """{"acceptable": bool, "score": 0-4, "messages": [...]} for a candidate password."""
    acceptable, score, parts = _verdict(password, email, name)
    return {"acceptable": acceptable, "score": score, "messages": [str(p) for p in parts]}


def check(password: str, email: str | None = None, name: str | None = None, field: str = "password") -> None:
    """Raise ValidationFailed with the reasons (in the reader's language) unless acceptable."""
    acceptable, _score, parts = _verdict(password, email, name)
    if not acceptable:
        raise ValidationFailed(_l("Some fields are not valid."), fields={field: _Joined(parts)})


def length_rule():
    return _l("At least %(n)d characters.", n=current_app.config["PASSWORD_MIN_LENGTH"])


def rules_text():
    """The rules besides the length, shown under every new-password field before anything
    is typed."""
    return _l("Hard to guess: not a common password, not your name or email, no keyboard "
              "patterns (qwerty), sequences (1234) or dates. Three or four unrelated words work well.")
