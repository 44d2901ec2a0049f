"""Messaging: one oslo.messaging transport per broker URL, typed clients and servers.

Every service talks over its own cell's broker (a RabbitMQ virtual host per
cell when deployed, an in-process ``fake://`` transport when embedded). The
cells daemon is the only one that also holds its parent's and children's
brokers. Servers use the threading executor.
"""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from datetime import UTC, datetime
from typing import Any

# oslo.messaging pulls in oslo.service, which imports eventlet and warns about it;
# our daemons never run eventlet (threading executor), so the warning is noise.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import oslo_messaging as messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402

from cells.context import RequestContext  # noqa: E402

LOG = logging.getLogger(__name__)

# What an RPC call may raise: no answer in time, or the server's method failed.
MessagingTimeout = messaging.MessagingTimeout
RemoteError = messaging.RemoteError
# What a notification endpoint returns to have its messages delivered again (listeners built
# with allow_requeue only): say, when it could not store them.
REQUEUE = messaging.NotificationResult.REQUEUE

# oslo.messaging logs every connection retry at ERROR with the URL; keep the noise at WARNING.
logging.getLogger("oslo_messaging._drivers.impl_rabbit").setLevel(logging.WARNING)


class ContextSerializer(messaging.NoOpSerializer):
    """Carries RequestContext over the wire as a plain dict."""

    def serialize_context(self, ctxt: Any) -> dict[str, Any]:
        if isinstance(ctxt, RequestContext):
            return ctxt.to_dict()
        return dict(ctxt or {})

    def deserialize_context(self, ctxt: Any) -> RequestContext:
        return RequestContext.from_dict(ctxt or {})


def _oslo_conf() -> cfg.ConfigOpts:
    """oslo.config's global object, initialised without reading any config file.

    oslo.messaging registers some of its options (tracing, metrics) on the
    global object only, so transports share it; our settings come from the
    cell's YAML, never from oslo.config files.
    """
    conf = cfg.CONF
    if conf._args is None:  # not yet called: calling it twice would re-parse
        conf([], project="cloud", default_config_files=[], default_config_dirs=[])
    messaging.set_transport_defaults(control_exchange="cloud")
    return conf


class TransportRegistry:
    """One transport per broker URL per process.

    In-process ``fake://`` transports only deliver between users of the same
    transport object, and RabbitMQ connections are worth sharing, so every
    service of a process asks here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: dict[str, messaging.Transport] = {}
        self._notifiers: dict[str, messaging.Transport] = {}

    def rpc(self, url: str) -> messaging.Transport:
        with self._lock:
            if url not in self._transports:
                self._transports[url] = messaging.get_rpc_transport(_oslo_conf(), url=url)
            return self._transports[url]

    def notification(self, url: str) -> messaging.Transport:
        with self._lock:
            if url not in self._notifiers:
                self._notifiers[url] = messaging.get_notification_transport(_oslo_conf(),
                                                                            url=url)
            return self._notifiers[url]

    def cleanup(self) -> None:
        with self._lock:
            for transport in [*self._transports.values(), *self._notifiers.values()]:
                transport.cleanup()
            self._transports.clear()
            self._notifiers.clear()


# Process-wide, for the reason given in TransportRegistry's docstring.
TRANSPORTS = TransportRegistry()


def _exchange(url: str) -> str | None:
    """The exchange for a broker URL.

    In-process (fake://) transports share their exchanges process-wide by
    name, so each embedded cell gets its own exchange named after its URL;
    RabbitMQ separates cells by virtual host and keeps the default exchange.
    """
    if url.startswith("fake:"):
        return "cloud." + url.split("://", 1)[1].strip("/").replace("/", ".")
    return None


def get_client(url: str, topic: str, version: str, server: str | None = None,
               fanout: bool = False, timeout: float = 60,
               retry: int | None = None) -> messaging.RPCClient:
    """Return an RPC client for ``topic`` on the broker at ``url``, capped at ``version``.

    ``retry`` bounds reconnection attempts when the broker is down (None:
    forever, for daemons that must not lose a message; a small number for
    request handlers that would rather answer 503).
    """
    target = messaging.Target(topic=topic, version=version, server=server, fanout=fanout,
                              exchange=_exchange(url))
    return messaging.get_rpc_client(
        TRANSPORTS.rpc(url), target, serializer=ContextSerializer(), timeout=timeout,
        version_cap=version, retry=retry,
    )


def get_server(url: str, topic: str, server: str, endpoints: list[Any]) -> messaging.MessageHandlingServer:
    """Return an RPC server (threading executor) dispatching ``topic`` to ``endpoints``."""
    target = messaging.Target(topic=topic, server=server, exchange=_exchange(url))
    return messaging.get_rpc_server(
        TRANSPORTS.rpc(url), target, endpoints,
        serializer=ContextSerializer(), access_policy=messaging.DefaultRPCAccessPolicy,
    )


def _notification_topic(url: str, topic: str) -> str:
    """The topic notifications for ``topic`` travel on.

    A notifier always publishes on the transport's default exchange, so the
    per-URL exchanges of in-process transports (see _exchange) cannot keep
    embedded cells apart; their topics carry the cell's exchange name instead.
    """
    exchange = _exchange(url)
    return f"{exchange}.{topic}" if exchange else topic


def get_notifier(url: str, publisher_id: str, topic: str, retry: int | None = None) -> messaging.Notifier:
    """Return a notifier publishing to ``topic`` on the broker at ``url``.

    ``retry`` bounds reconnection attempts per notification (None: forever).
    """
    return messaging.Notifier(
        TRANSPORTS.notification(url), publisher_id=publisher_id, driver="messaging",
        topics=[_notification_topic(url, topic)], serializer=ContextSerializer(), retry=retry,
    )


class NotificationPublisher:
    """Publishes notifications and, unlike oslo's Notifier, raises when one cannot be sent.

    oslo's Notifier logs a failed send and returns, so its caller cannot keep
    what was lost for later; this sends through the same transport call and in
    the same message format (2.0) as its ``messaging`` driver, and lets the
    failure through.
    """

    def __init__(self, url: str, publisher_id: str, topic: str, retry: int | None = None) -> None:
        self._transport = TRANSPORTS.notification(url)
        self._target = messaging.Target(topic=f"{_notification_topic(url, topic)}.info")
        self.publisher_id = publisher_id
        self.retry = retry

    def info(self, event_type: str, payload: dict[str, Any]) -> None:
        """Send one ``info`` notification; raises MessageDeliveryFailure (or the driver's error)."""
        message = {"message_id": str(uuid.uuid4()), "publisher_id": self.publisher_id,
                   "event_type": event_type, "priority": "INFO", "payload": payload,
                   "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")}
        self._transport._send_notification(self._target, {}, message, version=2.0, retry=self.retry)


def get_notification_listener(url: str, topic: str, endpoints: list[Any], pool: str | None = None,
                              batch_size: int | None = None,
                              batch_timeout: float | None = None,
                              allow_requeue: bool = False) -> messaging.MessageHandlingServer:
    """Return a notification listener on ``topic``; batched when ``batch_size`` is given.

    With ``allow_requeue`` an endpoint may return REQUEUE to have its messages redelivered.
    """
    targets = [messaging.Target(topic=_notification_topic(url, topic))]
    transport = TRANSPORTS.notification(url)
    if batch_size:
        return messaging.get_batch_notification_listener(
            transport, targets, endpoints, pool=pool, batch_size=batch_size, batch_timeout=batch_timeout,
            allow_requeue=allow_requeue,
        )
    return messaging.get_notification_listener(
        transport, targets, endpoints, pool=pool, allow_requeue=allow_requeue,
    )


def target(version: str) -> messaging.Target:
    """The Target an endpoint class declares to state the API version it serves."""
    return messaging.Target(version=version)
