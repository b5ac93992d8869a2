"""The embedded broker's password check: an amqtt plugin that admits one user.

amqtt imports it by name, and only when the embedded broker starts with a password, so that
no other command pays for importing amqtt.
"""
import hmac
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin


def _same(given, expected):
    """Constant-time comparison of a client's credential (str, bytes or None) with ours."""
    if given is None:
        return False
    if isinstance(given, str):
        given = given.encode()
    return hmac.compare_digest(given, expected.encode())


class OneUser(BaseAuthPlugin):
    """Admits the client whose user name and password are the config's; nobody else."""

    @dataclass
    class Config:
        username: str
        password: str

    async def authenticate(self, *, session):
        # Both compared, whatever the first gives: the time taken says nothing either way.
        name = _same(session.username, self.config.username)
        password = _same(session.password, self.config.password)
        return name and password
