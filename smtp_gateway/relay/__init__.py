"""The relay: sends the outbound queue to other operators over verified TLS (R4)."""
