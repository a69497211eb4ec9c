"""Value, Array, RawValue, RawArray in named shared memory that .NET can open (Bridge/SHARED.md).

Design notes:
- The stdlib's ``multiprocessing.sharedctypes`` API (typecodes, ``lock=True/
  False/<lock>``, ``get_lock()``, ``get_obj()``, ``.value``, slicing), but
  each object's memory is its own dotbridge shared memory segment
  (``db_<hex>``) instead of an anonymous heap arena, and its lock is a
  dotbridge :class:`~dotbridge.synchronize.RLock` (a named POSIX semaphore).
- So everything is reachable by name: objects pickle by name at any time
  (into dotbridge's Python workers, the stdlib's ``Pool``/``Process`` of any
  start method, or back), and :func:`descriptor` gives the text a .NET method
  passes to ``Bridge.SharedValue<T>.Open`` / ``Bridge.SharedArray<T>.Open``
  (``dotbridge.shm:v1;segment=…;typecode=d;length=1;offset=0;lock=/db_…``).
  :func:`open` turns such a descriptor (also one made by .NET) back into an
  object here.
- Raw objects are ctypes instances of a subclass of the requested type
  whose ``__reduce__`` re-attaches by name (``copy.copy`` gives a private
  copy, as the stdlib's). The creating process owns the segment: it is
  unlinked when the object is garbage-collected there or the process exits
  (by the resource tracker after a kill -9); receivers only map it, and so
  does a forked child (the finalizer checks the creator's pid). A pool
  task's own object is refused as a result (it would die before the caller
  attaches): the stdlib's MaybeEncodingError.
- Mapping: an anonymous ``mmap.mmap`` whose pages are replaced by the
  segment's (``MAP_FIXED``): no file descriptor per object (thousands of
  Values stay under ``ulimit -n``), and the memory is unmapped by mmap's own
  C dealloc, never while a ctypes object over it is alive.
"""

from __future__ import annotations

import ctypes
import os
import sys
import weakref
from multiprocessing import resource_tracker
from multiprocessing import sharedctypes as _sct

import _posixshmem

from . import shared_memory as _shm
from . import synchronize as _sync

__all__ = ["RawValue", "RawArray", "Value", "Array", "copy", "synchronized", "descriptor", "open",
           "Synchronized", "SynchronizedArray", "SynchronizedString"]

typecode_to_type = dict(_sct.typecode_to_type)
typecode_to_type.setdefault("?", ctypes.c_bool)
_type_to_typecode = {}
for _code in "cbBhHiIlLqQfd?u":
    _type_to_typecode.setdefault(typecode_to_type[_code], _code)
_type_to_typecode[ctypes.c_long] = "q" if ctypes.sizeof(ctypes.c_long) == 8 else "l"

_subclasses: dict = {}  # ctypes type -> its shared subclass
_bases: dict = {}  # shared subclass -> the ctypes type


def _simple_repr(obj):
    # a subclass of a simple ctypes type would show "<c_int object at 0x...>"; the stdlib's RawValue shows c_int(2)
    return f"{type(obj).__name__}({obj.value!r})"


def _shared_type(base):
    base = _bases.get(base, base)
    t = _subclasses.get(base)
    if t is None:
        ns = {"__reduce__": _reduce_raw, "__module__": __name__,
              "__copy__": _copy_raw, "__deepcopy__": _copy_raw}
        if issubclass(base, ctypes._SimpleCData):
            ns["__repr__"] = _simple_repr
        t = type(base.__name__, (base,), ns)
        _subclasses[base] = t
        _bases[t] = base
    return t


def _copy_raw(obj, memo=None):
    # copy.copy/deepcopy: a private ctypes copy, as of the stdlib's objects (pickle, by contrast, goes by name)
    return _bases[type(obj)].from_buffer_copy(obj)


def _reduce_raw(obj):
    mm = obj._db_map
    if getattr(mm, "creator_pid", None) == os.getpid() and _pickling_a_pool_result():
        # The worker's object (and with it the segment) is dropped right after this pickle, before the
        # caller attaches by name: refuse, as the stdlib does (its worker sends MaybeEncodingError).
        raise RuntimeError(f"a shared {type(obj).__name__} made in a pool worker cannot be returned to the "
                           "caller (its shared memory is freed when the worker drops it): create it in the "
                           "caller and pass it to the task instead")
    offset = ctypes.addressof(obj) - mm.address
    if isinstance(obj, ctypes.Array):
        return _attach_raw, (mm.name, obj._type_, obj._length_, offset)
    return _attach_raw, (mm.name, _bases[type(obj)], None, offset)


_WORKER_FILE = os.path.join("dotbridge", "_worker.py")
_STDLIB_POOL_FILE = os.path.join("multiprocessing", "pool.py")


def _pickling_a_pool_result() -> bool:
    """True when the pickle under way is a pool worker's result (dotbridge's worker or the stdlib's Pool)."""
    try:
        f = sys._getframe(2)  # the caller of pickle.dumps (the pickler itself is C)
    except ValueError:  # pickled from C with no Python caller (an embedding host)
        return False
    if f.f_code.co_name == "_task_pickle" and f.f_code.co_filename.endswith(_WORKER_FILE):
        return True  # dotbridge's worker pickles the task's results itself (not a task that pickles)
    prev = None
    for _ in range(6):  # multiprocessing.pool.worker -> put(result) -> send -> ForkingPickler.dumps
        if f is None:
            return False
        if f.f_code.co_name == "worker" and f.f_code.co_filename.endswith(_STDLIB_POOL_FILE):
            return prev is not None and prev.f_code.co_name == "put"
        prev, f = f, f.f_back
    return False


def _over(mm, type_, offset: int = 0):
    if offset < 0 or offset + ctypes.sizeof(type_) > len(mm):
        raise ValueError(f"segment {mm.name!r} has {len(mm)} bytes, {type_.__name__} at offset {offset} needs "
                         f"{offset + ctypes.sizeof(type_)}")
    obj = _shared_type(type_).from_buffer(mm, offset)
    obj._db_map = mm  # (from_buffer keeps mm alive too; this is how descriptor/pickle find the name)
    return obj


def _attach_raw(name: str, element, length, offset: int = 0):
    fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
    try:
        mm = _shm._map_fd(fd, os.fstat(fd).st_size, name)
    finally:
        os.close(fd)
    return _over(mm, element * length if length is not None else element, offset)


def _new_value(type_):
    size = max(1, ctypes.sizeof(type_))
    name, fd = _shm._create(None, size)
    try:
        mm = _shm._map_fd(fd, size, name)
    except BaseException:
        _posixshmem.shm_unlink("/" + name)
        raise
    finally:
        os.close(fd)
    mm.creator_pid = os.getpid()
    resource_tracker.register("/" + name, "shared_memory")
    # (the pid: a fork child that drops or exits with an inherited object must not unlink the parent's)
    weakref.finalize(mm, _shm._unlink_owned, "/" + name, os.getpid())
    return _over(mm, type_)


def RawValue(typecode_or_type, *args):  # noqa: N802
    """A ctypes object in a new shared memory segment (no lock)."""
    type_ = typecode_to_type.get(typecode_or_type, typecode_or_type)
    obj = _new_value(type_)
    obj.__init__(*args)
    return obj


def RawArray(typecode_or_type, size_or_initializer):  # noqa: N802
    """A ctypes array in a new shared memory segment (no lock), zero-filled or from an initializer."""
    type_ = typecode_to_type.get(typecode_or_type, typecode_or_type)
    if isinstance(size_or_initializer, int):
        return _new_value(type_ * size_or_initializer)
    result = _new_value(type_ * len(size_or_initializer))
    result.__init__(*size_or_initializer)
    return result


def copy(obj):
    """A new raw shared object (its own segment) holding a copy of ctypes object ``obj``, as the stdlib's ``copy``."""
    new = _new_value(_bases.get(type(obj), type(obj)))
    ctypes.memmove(ctypes.addressof(new), ctypes.addressof(obj), ctypes.sizeof(new))
    return new


def _lock_for(lock):
    if lock in (True, None):
        return _sync.RLock()
    if not hasattr(lock, "acquire"):
        raise AttributeError("%r has no method 'acquire'" % lock)
    return lock


def Value(typecode_or_type, *args, lock=True, ctx=None):  # noqa: N802
    """A synchronized shared value (``.value``, ``get_lock()``, ``get_obj()``); ``lock=False`` gives the raw object."""
    obj = RawValue(typecode_or_type, *args)
    if lock is False:
        return obj
    return synchronized(obj, _lock_for(lock))


def Array(typecode_or_type, size_or_initializer, *, lock=True, ctx=None):  # noqa: N802
    """A synchronized shared array; ``lock=False`` gives the raw ctypes array."""
    obj = RawArray(typecode_or_type, size_or_initializer)
    if lock is False:
        return obj
    return synchronized(obj, _lock_for(lock))


class _PicklableSync:
    def __reduce__(self):
        return synchronized, (self._obj, self._lock)

    @property
    def descriptor(self) -> str:
        """The text .NET's ``SharedValue<T>.Open`` / ``SharedArray<T>.Open`` takes."""
        return descriptor(self)


class Synchronized(_PicklableSync, _sct.Synchronized):
    pass


class SynchronizedArray(_PicklableSync, _sct.SynchronizedArray):
    pass


class SynchronizedString(_PicklableSync, _sct.SynchronizedString):
    pass


_struct_classes: dict = {}


def _synchronized_struct_class(cls):
    # as the stdlib's synchronized(): a SynchronizedBase subclass with one locked property per field
    scls = _struct_classes.get(cls)
    if scls is None:
        props = {name: _sct.make_property(name) for name, *_ in cls._fields_}
        props["__module__"] = __name__
        scls = type("Synchronized" + cls.__name__, (_PicklableSync, _sct.SynchronizedBase), props)
        _struct_classes[cls] = scls
    return scls


def synchronized(obj, lock=None, ctx=None):
    """Wrap a raw shared object with a lock (default: a new dotbridge RLock)."""
    assert not isinstance(obj, _sct.SynchronizedBase), "object already synchronized"
    lock = _lock_for(lock)
    if isinstance(obj, ctypes._SimpleCData):
        return Synchronized(obj, lock)
    if isinstance(obj, ctypes.Array):
        if obj._type_ is ctypes.c_char:
            return SynchronizedString(obj, lock)
        return SynchronizedArray(obj, lock)
    return _synchronized_struct_class(type(obj))(obj, lock)


def descriptor(obj) -> str:
    """The by-name description of a Value/Array/RawValue/RawArray made here, for .NET.

    Raises:
        TypeError: ``obj`` is not a dotbridge shared ctypes object, or its
            element type has no typecode.
        ValueError: its lock is not a named semaphore (a ``threading`` lock, a
            stdlib lock made under fork rules) that .NET could open.
    """
    lock_name = None
    if isinstance(obj, _sct.SynchronizedBase):
        semlock = getattr(obj._lock, "_semlock", None)
        lock_name = getattr(semlock, "name", None)
        if not lock_name:  # .NET would then read and write with no lock at all: say so instead
            raise ValueError(f"the lock of this shared object ({obj._lock!r}) has no name .NET can open: "
                             "use a dotbridge Lock/RLock (the default), or lock=False")
        obj = obj._obj
    mm = getattr(obj, "_db_map", None)
    if mm is None:
        raise TypeError(f"{type(obj).__name__} does not live in a dotbridge shared memory segment")
    if isinstance(obj, ctypes.Array):
        element, length = obj._type_, obj._length_
    else:
        element, length = _bases.get(type(obj), type(obj)), 1
    code = _type_to_typecode.get(element)
    if code is None:
        raise TypeError(f"{element.__name__} has no sharedctypes typecode")
    offset = ctypes.addressof(obj) - mm.address
    text = f"dotbridge.shm:v1;segment={mm.name};typecode={code};length={length};offset={offset}"
    if lock_name:
        text += f";lock={lock_name}"
    return text


def open(text: str):  # noqa: A001 - mirrors Bridge.SharedValue<T>.Open
    """Attach to the object a descriptor names (made here or by .NET's ``SharedValue<T>``/``SharedArray<T>``).

    Returns:
        A Synchronized wrapper if the descriptor has a lock, else the raw
        ctypes object; a length-1 descriptor gives a value, others an array.
    Raises:
        ValueError: not a descriptor.
        FileNotFoundError: the segment or lock no longer exists.
    """
    parts = text.split(";")
    if parts[0] != "dotbridge.shm:v1":
        raise ValueError(f"not a dotbridge shared value descriptor: {text!r}")
    fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    try:
        name, code, length = fields["segment"], fields["typecode"], int(fields["length"])
        offset = int(fields.get("offset", "0"))
    except (KeyError, ValueError) as e:
        raise ValueError(f"bad dotbridge shared value descriptor {text!r}") from e
    element = typecode_to_type.get(code)
    if element is None:
        raise ValueError(f"bad dotbridge shared value descriptor {text!r}: unknown typecode {code!r}")
    obj = _attach_raw(name, element, None if length == 1 else length, offset)
    lock = fields.get("lock")
    if not lock:
        return obj
    return synchronized(obj, _sync.open_rlock(lock))
