"""Streams have one API: the embedded classes and the HTTP client's implement
:mod:`lakebed.api`'s interfaces (streams, a stream, a consumer) with the same methods and
signatures."""

from __future__ import annotations

from tests._api_parity import check_parity

from lakebed.api._streams import ConsumerAPI, StreamAPI, StreamsAPI
from lakebed.client._streams import RemoteConsumer, RemoteStream, RemoteStreams
from lakebed.streams import Consumer, Stream, Streams


def test_streams_parity() -> None:
    check_parity(StreamsAPI, Streams, RemoteStreams, embedded_only={
        "backend": "the backend object of this process (embedded log, JetStream or Redis client): engine "
                   "plumbing for the stream processor and the CLI; describe() names the kind on both sides",
        "close": "closes the backend of this process; the lake calls it at close",
    })


def test_stream_parity() -> None:
    check_parity(StreamAPI, Stream, RemoteStream, embedded_only={
        "backend": "the backend object of this process, which the stream processor reads through",
    })


def test_consumer_parity() -> None:
    check_parity(ConsumerAPI, Consumer, RemoteConsumer)
