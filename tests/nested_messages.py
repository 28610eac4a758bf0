"""Messages nested as deep as a test asks, to probe the depth bounds of the MIME walk."""

from __future__ import annotations


def deep_multipart(levels: int, needle: bytes) -> bytes:
    """A text part inside `levels` multipart/mixed parts (boundary b0 the innermost)."""
    raw = b"Content-Type: text/plain\r\n\r\n" + needle + b"\r\n"
    for i in range(levels):
        raw = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) + raw
               + b"\r\n--b%d--\r\n" % i)
    return b"Subject: deep\r\n" + raw


def deep_rfc822(levels: int, needle: bytes) -> bytes:
    """A text message inside `levels` message/rfc822 messages."""
    raw = b"Subject: leaf\r\n\r\n" + needle + b"\r\n"
    for i in range(levels):
        raw = b"Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n" % i + raw
    return raw
