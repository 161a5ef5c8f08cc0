"""The shared cache, which keeps pages working while Redis is down (docs/operations.md, "Faults").

Nothing the app caches is the only copy of anything: access settings, blueprint flags and recent
records are read again from the database, a form token only guards against a double submit.
So while Redis cannot be reached, every cache call answers "not cached" instead of raising:
`get` gives the default, `add` says it stored the value (so a waiting loop does not wait on a
cache that is not there), writes and deletes do nothing. After a failure the cache is not tried
again for `RETRY_SECONDS`, so a page does not wait on Redis once per cached value.

Once Redis answers again, this process drops every key of the cache (its prefix only, never the
broker's) before using it: a change of access made during the outage could not move its
generation (access.generations), and a value cached before it must not be used after it.
"""
from __future__ import annotations

import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_SECONDS = 2.0


class _Down(Exception):
    """Redis was unreachable a moment ago: the call answers as if nothing were cached."""


class DegradingClient(RedisCacheClient):
    def __init__(self, servers, **options):
        options.setdefault("socket_connect_timeout", 1)
        options.setdefault("socket_timeout", 2)
        super().__init__(servers, **options)
        self.down_until = 0.0  # monotonic time before which Redis is not tried
        self.missed = False  # a call failed since the last time Redis answered
        self.key_pattern = "*"  # set by the cache: its own keys

    def _call(self, method, *args):
        if time.monotonic() < self.down_until:
            raise _Down
        try:
            if self.missed:
                self._forget_everything()
            return getattr(super(), method)(*args)
        except UNREACHABLE as error:
            if not self.missed:
                logger.warning("Redis unreachable, pages run without the cache: %s", error)
            self.missed = True
            self.down_until = time.monotonic() + RETRY_SECONDS
            raise _Down from error

    def _forget_everything(self) -> None:
        client = self.get_client(write=True)
        batch = []
        for key in client.scan_iter(match=self.key_pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
        self.missed = False
        logger.warning("Redis reachable again; cached values from before were dropped")

    def add(self, key, value, timeout):
        try:
            return self._call("add", key, value, timeout)
        except _Down:
            return True

    def get(self, key, default):
        try:
            return self._call("get", key, default)
        except _Down:
            return default

    def set(self, key, value, timeout):
        try:
            self._call("set", key, value, timeout)
        except _Down:
            pass

    def touch(self, key, timeout):
        try:
            return self._call("touch", key, timeout)
        except _Down:
            return False

    def delete(self, key):
        try:
            return self._call("delete", key)
        except _Down:
            return False

    def get_many(self, keys):
        try:
            return self._call("get_many", keys)
        except _Down:
            return {}

    def has_key(self, key):
        try:
            return self._call("has_key", key)
        except _Down:
            return False

    def incr(self, key, delta):
        try:
            return self._call("incr", key, delta)
        except _Down:
            raise ValueError("Key '%s' not found" % key) from None  # what a missing key gives

    def set_many(self, data, timeout):
        try:
            self._call("set_many", data, timeout)
        except _Down:
            pass

    def delete_many(self, keys):
        try:
            self._call("delete_many", keys)
        except _Down:
            pass

    def clear(self):
        try:
            return self._call("clear")
        except _Down:
            return False


class DegradingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = DegradingClient

    @property
    def _cache(self):
        client = self.__dict__.get("_client")
        if client is None:
            client = self._class(self._servers, **self._options)
            client.key_pattern = self.make_key("*")
            self.__dict__["_client"] = client
        return client
