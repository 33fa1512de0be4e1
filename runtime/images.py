"""Names resolved to images, once per request, and the images kept between requests.

A request's model name is resolved here, in one place: the tag's manifest is read
(:meth:`builder.store.store.Store.get`, every time, since a tag may move), and the
:class:`ResolvedModel` behind its manifest digest comes from an :class:`ImageCache`. That
object is what the server hands the scheduler, the memory planner and the prompt
source; none of them reads the store or the weights' header again.

On a miss the image's small layers are read and verified (:meth:`Image.read
<builder.store.image.Image.read>`) and its weights' GGUF header is inspected
(:func:`~builder.gguf.file.inspect_gguf`), once per blob digest: the prompt's special
tokens, the memory estimate and ``/api/show``'s ``model_info`` all come from that one
:class:`~builder.gguf.file.GGUFInfo`.

Everything here blocks on files: call it from a worker thread, never on the event loop.
The caches are shared by those threads, so a :class:`LoadingCache` takes a lock around
its bookkeeping, and loads each key once however many threads ask for it at the same
time (the others wait for that load and share its outcome); the load itself runs outside
the lock, so other keys are not held up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from builder.gguf.file import GGUFInfo, inspect_gguf
from builder.prompt import PromptSource, loaded_source
from builder.store import media_types
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store, StoredImage

IMAGES_CACHED = 16
"""Images kept read between requests (by tag and manifest digest)."""
HEADERS_CACHED = 16
"""GGUF headers kept inspected between loads (by blob digest)."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """A bounded cache, safe across threads, that loads a missing key once.

    When it is full the entry used longest ago goes. A load that fails is not kept: the
    threads waiting for it get its error, and the next :meth:`get` tries again.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._values: OrderedDict[K, V] = OrderedDict()
        self._loading: dict[K, Future[V]] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The value of ``key``, from ``load()`` (in this thread) unless known or loading."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            flight = self._loading.get(key)
            if flight is None:
                flight = self._loading[key] = Future()
                leader = True
            else:
                leader = False
        if not leader:
            return flight.result()
        try:
            value = load()
        except BaseException as error:
            with self._lock:
                del self._loading[key]
            flight.set_exception(error)
            raise
        with self._lock:
            del self._loading[key]
            self._values[key] = value
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)
        flight.set_result(value)
        return value

    def evict(self, matches: Callable[[K], bool]) -> None:
        """Forget every key that ``matches`` (loads in progress finish and are kept)."""
        with self._lock:
            for key in [key for key in self._values if matches(key)]:
                del self._values[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


@dataclass(frozen=True)
class ResolvedModel:
    """A model name resolved to its image: what one request is served from."""

    name: ModelName
    image: Image
    gguf: GGUFInfo | None
    """The weights' GGUF header; ``None`` for an image without weights."""
    draft_path: Path | None = None
    """The image's draft model (its DRAFT layer's GGUF blob), for speculative decoding."""

    @property
    def projector_path(self) -> Path | None:
        """The image's vision projector (its projector layer's GGUF blob), if it has one."""
        return self.image.projector

    @property
    def digest(self) -> str:
        """The manifest digest (``sha256:…``): two requests with the same one want the
        same runner."""
        return self.image.stored.digest

    def prompt_source(self) -> PromptSource:
        """The image's prompt source; its template is compiled once per process
        (:mod:`builder.prompt` keeps the compiled ones), so this is cheap after the first."""
        return loaded_source(self.image, self.gguf)


class ImageCache:
    """The images of one store, read once per tag and manifest digest."""

    def __init__(
        self,
        store: Store,
        images: int = IMAGES_CACHED,
        headers: int = HEADERS_CACHED,
    ) -> None:
        self.store = store
        self._images: LoadingCache[tuple[tuple[str, ...], str], ResolvedModel] = LoadingCache(
            images
        )
        self._headers: LoadingCache[str, GGUFInfo] = LoadingCache(headers)

    def resolve(self, name: ModelName) -> ResolvedModel:
        """The image tagged ``name`` now; ``ModelNotFoundError`` if there is none."""
        stored = self.store.get(name)
        key = (name.key(), stored.digest)
        return self._images.get(key, lambda: self._read(stored))

    def forget(self, name: ModelName) -> None:
        """Drop what is kept for the tag ``name`` (it was deleted)."""
        self._images.evict(lambda key: key[0] == name.key())

    def _read(self, stored: StoredImage) -> ResolvedModel:
        image = Image.read(self.store, stored)
        models = stored.manifest.layers_of(media_types.MODEL)
        gguf = None
        if models:
            path, shown = image.model_path, stored.name.display()
            gguf = self._headers.get(
                models[0].digest, lambda: inspect_gguf(path, display_name=shown)
            )
        return ResolvedModel(stored.name, image, gguf, image.draft)
