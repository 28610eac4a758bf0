"""Sample messages for session tests."""


def message(n: int, subject: str = "Hello", body: str = "Body text") -> bytes:
    return (
        f"From: \"Dr. Sender {n}\" <sender{n}@op-b.mssante.fr>\r\n"
        f"To: alice@op-a.mssante.fr\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Date: Tue, 5 Mar 2024 10:0{n % 10}:00 +0100\r\n"
        f"Message-ID: <msg{n}@op-b>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body} {n}\r\n"
    ).encode()
