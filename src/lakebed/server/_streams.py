"""``lakebed serve --stream-processors``: the writer process runs the stream processor of
every stream feature view in a thread beside the server.

The thread starts once the app is ready and stops on shutdown (the stop event is set,
the processor finishes its step, lands the offline tail and the thread is joined). Views
applied, changed or deleted while the server runs are picked up within a second: the
processor is closed and opened again on the new set. A failing step is logged and retried
with a growing delay (the processor restarts from the offsets of its last commit, so
nothing is lost or applied twice).

Metrics of the views (lag, applied, too late, freshness) come from their stored state
(:meth:`lakebed.features.FeatureStore.status`), not from this thread: see
``lakebed.server._metrics``.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from lakebed.lake import Lake

log = logging.getLogger("lakebed.server")


def stream_views(lake: Lake, missing: dict[str, str] | None = None) -> dict[str, int]:
    """The applied stream feature views whose stream exists: name -> version (asks the
    catalog whether the registry changed). Views whose stream is gone are left out (one
    broken view does not stop the others) and put in ``missing`` (view -> stream)."""
    store = lake.features
    store.registry.refresh_if_changed()
    out: dict[str, int] = {}
    for (kind, name), (version, spec) in sorted(store.registry.current().items()):
        if kind != "view" or not spec.get("stream"):
            continue
        if lake.streams.exists(spec["stream"]):
            out[name] = version
        elif missing is not None:
            missing[name] = spec["stream"]
    return out


class StreamRunner:
    """The stream processor of a server: :meth:`start` after the app is ready,
    :meth:`stop` on shutdown.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     runner = StreamRunner(lake, check_every=0.05)
        ...     runner.start()
        ...     runner.stop()
        ...     runner.running
        False
    """

    def __init__(self, lake: Lake, *, check_every: float = 1.0, max_backoff: float = 30.0) -> None:
        self.lake = lake
        self.check_every = check_every
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._inner: threading.Event | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.views: dict[str, int] = {}  # what the processor runs now
        self.missing: dict[str, str] = {}  # views left out: their stream does not exist
        self.errors = 0  # failed runs since the start
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the processor thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="lakebed-stream-processor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Set the stop event and wait for the processor to land its offline tail."""
        self._stop.set()
        with self._lock:
            if self._inner is not None:
                self._inner.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # pragma: no cover - a step stuck on a backend
                log.warning("the stream processor did not stop within %.0f s", timeout)

    def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                views = self._views()
                if not views:
                    self.views = {}
                    self._stop.wait(self.check_every)
                    continue
                self._run(views)
                backoff = 0.5
            except Exception as exc:  # logged and retried: the server keeps serving
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("stream processor failed (%s); retrying in %.1f s", self.last_error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _views(self) -> dict[str, int]:
        missing: dict[str, str] = {}
        views = stream_views(self.lake, missing)
        for name, stream in missing.items():
            if self.missing.get(name) != stream:
                log.warning("stream feature view %r is not run: its stream %r does not exist (create it, or delete "
                            "the view)", name, stream)
        self.missing = missing
        return views

    def _run(self, views: dict[str, int]) -> None:
        """Run ``views`` until the server stops or the applied stream views change."""
        inner = threading.Event()
        with self._lock:
            if self._stop.is_set():
                return
            self._inner = inner

        try:
            with self.lake.features.stream_processor(sorted(views)) as proc:

                def on_status(_status: list[dict[str, Any]]) -> None:
                    # store the freshness of the events applied in the last second even when
                    # none follow (the processor stores it with the next batch, or on close),
                    # so that /metrics and status() show it while the stream is idle
                    for v in proc.views:
                        v.write_freshness()
                    try:
                        if self._views() != views:
                            inner.set()
                    except Exception:  # the catalog hiccuped: check again at the next status
                        log.debug("checking the stream views failed", exc_info=True)

                self.views = views
                proc.run(stop=inner, on_status=on_status)
        finally:
            with self._lock:
                self._inner = None


def attach_stream_runner(app: FastAPI, lake: Lake) -> StreamRunner:
    """A :class:`StreamRunner` for ``app``: started once the app is ready (after the
    other startup hooks), stopped and joined on shutdown (off the event loop); also
    ``app.state.stream_runner``."""
    import anyio.to_thread

    runner = app.state.stream_runner = StreamRunner(lake)

    async def start() -> None:
        runner.start()

    async def stop() -> None:
        await anyio.to_thread.run_sync(runner.stop)

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(stop)
    return runner
