"""Reading a received message: headers, who sent it, whether a machine sent it, its text and
its files. Everything here treats the message as hostile: any header may be missing, doubled,
malformed or absurdly long, any charset may be wrong, and nothing here raises on bad input
(`parse` returns what could be read). Only UTF-8 text leaves this module.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

# Message-IDs are short in practice; a longer one is an attack on the indexes.
MESSAGE_ID_MAX = 300
SUBJECT_MAX = 300
TEXT_MAX = 20000
MAX_REFERENCES = 50
_MSGID = re.compile(r"<[^<>\s]{1,298}>")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
REFERENCE = re.compile(r"\[([A-Z0-9]{2,8}-\d{4}-\d{4,6})\]")
# Reply and forward prefixes in the languages the councils write in (and Outlook's and
# Gmail's translations of them), repeated any number of times: "RE: RV: Fwd: ...".
_PREFIX = re.compile(r"^\s*((re|fw|fwd|rv|aw|wg|enc|r|tr|sv|vs|res|ref)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass
class Part:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Parsed:
    message_id: str = ""
    from_address: str = ""
    from_name: str = ""
    subject: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text: str = ""
    attachments: list[Part] = field(default_factory=list)
    automatic: str | None = None  # why it is machine mail, or None
    return_path: str | None = None


def clean(text: str, limit: int | None = None) -> str:
    """Text as the tickets accept it: no control characters (tabs and newlines stay), no
    lone surrogates, Unix newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def one_line(text: str, limit: int) -> str:
    return " ".join(clean(text).split())[:limit]


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text whatever the charset says.

    The declared charset first (ISO-8859-1 read as Windows-1252, its superset that mailers
    actually send), then UTF-8, then Windows-1252 with replacement: a message is always
    readable, and a wrong label costs at worst a few odd characters.
    """
    candidates = []
    if charset:
        label = charset.strip().strip('"').lower()
        if label in ("iso-8859-1", "latin-1", "latin1", "iso_8859-1", "us-ascii", "ascii", "iso8859-1"):
            label = "windows-1252"
        candidates.append(label)
    candidates += ["utf-8", "windows-1252"]
    for label in candidates:
        try:
            return data.decode(label)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("windows-1252", "replace")


def _header(msg: EmailMessage, name: str) -> str:
    """A header as text; a header the parser cannot make sense of is read as its raw value."""
    try:
        value = msg.get(name)
    except Exception:  # a malformed header must not stop the message
        value = None
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    if value is None:
        return ""
    return one_line(str(value), 4000)


def _message_ids(value: str) -> list[str]:
    return _MSGID.findall(value or "")[:MAX_REFERENCES]


def _sender(msg: EmailMessage) -> tuple[str, str]:
    with contextlib.suppress(Exception):  # hostile header: fall back to the plain parser
        header = msg.get("From")
        addresses = getattr(header, "addresses", None)
        if addresses:
            first: Address = addresses[0]
            return first.addr_spec, str(first.display_name or "")
    raw = ""
    for key, value in msg.raw_items():
        if key.lower() == "from":
            raw = value
            break
    pairs = getaddresses([raw]) if raw else []
    return (pairs[0][1], pairs[0][0]) if pairs else ("", "")


def normalise_address(address: str) -> str:
    address = (address or "").strip().lower()
    return address if _ADDRESS.fullmatch(address) and len(address) <= 254 else ""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def automatic_reason(msg: EmailMessage, own_address: str) -> str | None:
    """Why this message was written by a machine (RFC 3834 and the headers mailers use
    instead), or None. Such mail is never answered and never opens a ticket."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_submitted"
    if _header(msg, "Precedence").lower() in ("bulk", "junk", "list"):
        return "precedence"
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return "autoreply"
    suppress = {v.strip().lower() for v in _header(msg, "X-Auto-Response-Suppress").split(",")}
    if suppress & {"all", "oof", "autoreply"}:
        return "auto_response_suppress"
    for key, value in msg.raw_items():
        if key.lower() == "return-path" and value.strip() in ("<>", ""):
            return "bounce"
    if msg.get_content_type() == "multipart/report":
        return "report"
    sender, _name = _sender(msg)
    if own_address and sender.strip().lower() == own_address.lower():
        return "own_mail"
    return None


def _part_bytes(part) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding
        data = None
    if data is None:
        payload = part.get_payload()
        data = payload.encode("utf-8", "replace") if isinstance(payload, str) else b""
    return data


def _part_text(part) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(_part_bytes(part), charset)


def html_to_text(html: str) -> str:
    from inscriptis import get_text
    from inscriptis.model.config import ParserConfig

    try:
        return get_text(html, ParserConfig(display_links=False, display_images=False))
    except Exception:  # lxml refuses some documents; keep the words anyway
        return re.sub(r"<[^>]*>", " ", html)


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed (Thunderbird's default): a line ending in a space goes on in
    the next one; the signature separator "-- " is not a soft break."""
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            current += line[:-1] if delsp else line
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return "\n".join(out)


def _body_text(msg: EmailMessage) -> str:
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        body = None
    if body is None:
        if msg.get_content_maintype() == "text":
            body = msg
        else:
            return ""
    text = _part_text(body)
    if body.get_content_subtype() == "html":
        return html_to_text(text)
    if str(body.get_param("format", "") or "").lower() == "flowed":
        text = unflow(text.replace("\r\n", "\n"), str(body.get_param("delsp", "") or "").lower() == "yes")
    return text


def _attachments(msg: EmailMessage, body) -> list[Part]:
    out: list[Part] = []
    try:
        parts = list(msg.iter_attachments()) if msg.is_multipart() else []
    except Exception:
        parts = []
    for part in parts:
        if part is body:
            continue
        try:
            filename = part.get_filename() or ""
        except Exception:
            filename = ""
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            inner = part.get_payload()
            data = inner[0].as_bytes(policy=policy.SMTP) if isinstance(inner, list) and inner else _part_bytes(part)
            filename = filename or "message.eml"
        else:
            data = _part_bytes(part)
        out.append(Part(one_line(filename, 200) or "attachment", content_type, data))
    return out


def parse(raw: bytes, own_address: str = "") -> Parsed:
    msg = message_from_bytes(raw, policy=policy.default)
    parsed = Parsed()
    ids = _message_ids(_header(msg, "Message-ID"))
    parsed.message_id = ids[0] if ids else ""
    address, name = _sender(msg)
    parsed.from_address = normalise_address(address)
    parsed.from_name = one_line(name, 200)
    parsed.subject = one_line(_header(msg, "Subject"), SUBJECT_MAX)
    parsed.in_reply_to = _message_ids(_header(msg, "In-Reply-To"))
    parsed.references = _message_ids(_header(msg, "References"))
    parsed.automatic = automatic_reason(msg, own_address)
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        body = None
    parsed.text = clean(_body_text(msg)).strip()
    parsed.attachments = _attachments(msg, body)
    return parsed


def headers_only(raw: bytes) -> bytes:
    """The header block of a message (what is kept of one too large to process)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw[: end if 0 <= end < 256 * 1024 else 256 * 1024]


def ticket_title(subject: str) -> str:
    """The subject without reply/forward prefixes and without the bracketed reference."""
    title = REFERENCE.sub(" ", subject)
    previous = None
    while previous != title:
        previous = title
        title = _PREFIX.sub("", title)
    return " ".join(title.split())


def references_in_subject(subject: str) -> list[str]:
    return REFERENCE.findall(subject or "")


def own_address(sender_setting: str) -> str:
    return parseaddr(sender_setting or "")[1].lower()


# --- the quoted history below a reply ------------------------------------------------------------

# The markers mailers put above the quoted message, in Catalan, Spanish and English, as the
# reply-parser library's languages do not include Catalan and miss some Spanish forms.
_MARKERS = [
    re.compile(r"^-{2,}\s*(original message|mensaje original|missatge original|forwarded message|"
               r"mensaje reenviado|missatge reenviat)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^(on|el|le|am)\b.{0,200}\b(wrote|escribió|escribio|va escriure|ha escrit|a écrit|schrieb)\s*:\s*$",
               re.IGNORECASE),
    re.compile(r"^_{10,}\s*$"),
    re.compile(r"^(from|de|von)\s*:\s.*@", re.IGNORECASE),
]


def cut_quoted(text: str) -> str:
    """The new part of a reply: the text above the first reply marker, and without a trailing
    block of '>' lines. Never empty when the message had words: a reply that is only a quote
    keeps its text."""
    from mailparser_reply import EmailReplyParser

    lines = text.split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if any(m.match(stripped) for m in _MARKERS):
            cut = index
            break
    # A marker folded over two lines ("On Thu, ... <x@y>\nwrote:") is joined before matching.
    for index in range(min(cut, len(lines)) - 1):
        joined = (lines[index].strip() + " " + lines[index + 1].strip()).strip()
        if _MARKERS[1].match(joined):
            cut = index
            break
    head = "\n".join(lines[:cut])
    head_lines = head.rstrip().split("\n")
    while head_lines and head_lines[-1].lstrip().startswith(">"):
        head_lines.pop()
    head = "\n".join(head_lines).strip()
    try:
        parsed = EmailReplyParser(languages=["en", "es"]).parse_reply(head) if head else ""
    except Exception:  # the library's regexes on odd input
        parsed = head
    result = (parsed or head).strip()
    return result or text.strip()
