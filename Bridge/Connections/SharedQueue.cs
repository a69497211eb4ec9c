// Design notes
// ------------
// The .NET side of Python's dotbridge.Queue / JoinableQueue / SimpleQueue (python/dotbridge/queues.py), which are
// the stdlib's multiprocessing.queues classes over dotbridge's named semaphores. The same objects, the same steps
// as Lib/multiprocessing/queues.py, so Python processes and .NET code put and get on one queue:
//
//   pipe      one os.pipe(); each item is one Connection message (4-byte big-endian length, bytes) holding a
//             pickle (PickleValues: plain values only). Opened by path, /proc/<pid>/fd/<n> of the process that
//             gave the spec, O_NONBLOCK for the open (never hangs on a FIFO), then blocking; the pipe's inode
//             (pipe=) is checked against /proc/self/fd/<ours> so a reused fd number is never taken for it.
//   rlock     Lock: one reader at a time (Python: get holds it around poll + recv_bytes).
//   wlock     Lock: one writer at a time (Python: the feeder thread holds it around send_bytes).
//   sem       BoundedSemaphore(maxsize): put takes one (blocks/times out while full: queue.Full), get gives one
//             back; qsize = maxsize - sem_getvalue. SimpleQueue has none.
//   joinable  unfinished = Semaphore(0) and a Condition (RLock + 3 semaphores, SharedCondition): put releases
//             unfinished under the condition; task_done takes one under it and notifies all at zero; join waits
//             on the condition while unfinished is not zero.
//
// Put here writes synchronously under wlock (Python's put hands the item to a feeder thread and returns): it
// blocks while the pipe (64 KiB) is full until someone gets. Get decodes after releasing rlock, as Python does;
// an item that is not a plain value is consumed and throws PickleFormatException (Python loses such an item too
// when loads fails). The process that gave the spec must be alive, with the queue open, until Open returns;
// afterwards this process holds its own ends. Linux only.
using System.Diagnostics;
using System.Runtime.InteropServices;
using Bridge.Connections.Internal;
using Bridge.Internal;
using Microsoft.Win32.SafeHandles;

namespace Bridge.Connections;

/// <summary>
/// Python's <c>dotbridge.Queue</c>, <c>JoinableQueue</c> or <c>SimpleQueue</c> (the stdlib's <c>multiprocessing</c>
/// queues) opened from .NET by its <c>q.spec</c>: put and get plain values (pickled as Python does), <c>qsize</c>,
/// <c>task_done</c>/<c>join</c>.
/// </summary>
/// <remarks>
/// <para>Values: see <see cref="PickleValues"/> (None, bool, int, float, str, bytes, list, tuple, dict).</para>
/// <para>Thread-safety: all members are thread-safe (the shared locks order readers and writers, across processes
/// too). <see cref="Dispose"/> must not race with other calls.</para>
/// </remarks>
public sealed class SharedQueue : IDisposable
{
    /// <summary>The first field of a spec.</summary>
    public const string SpecPrefix = "dotbridge.mpqueue:v1";

    private readonly Connection _reader;
    private readonly Connection _writer;
    private readonly int _readFd;
    private readonly SharedLock _rlock;
    private readonly SharedLock _wlock;
    private readonly SharedSemaphore? _sem;
    private readonly SharedSemaphore? _unfinished;
    private readonly SharedCondition? _cond;
    private int _disposed;

    private SharedQueue(SharedQueueKind kind, int maxSize, Connection reader, int readFd, Connection writer,
        SharedLock rlock, SharedLock wlock, SharedSemaphore? sem, SharedSemaphore? unfinished, SharedCondition? cond)
    {
        Kind = kind;
        MaxSize = maxSize;
        _reader = reader;
        _readFd = readFd;
        _writer = writer;
        _rlock = rlock;
        _wlock = wlock;
        _sem = sem;
        _unfinished = unfinished;
        _cond = cond;
    }

    /// <summary>Which Python queue this is.</summary>
    public SharedQueueKind Kind { get; }

    /// <summary>The queue's <c>maxsize</c> (Python's default is the semaphore maximum, 2147483647); 0 for a SimpleQueue.</summary>
    public int MaxSize { get; }

    /// <summary>
    /// Opens the queue a Python <c>q.spec</c> describes:
    /// <c>dotbridge.mpqueue:v1;kind=queue|joinable|simple;read=…;write=…;pipe=…;rlock=…;wlock=…[;sem=…;maxsize=N][;unfinished=…;lock=…;lockkind=…;sleeping=…;woken=…;wait=…]</c>.
    /// </summary>
    /// <exception cref="FormatException">Not a queue spec, or a field is missing or bad.</exception>
    /// <exception cref="IOException">The pipe cannot be opened (the process that gave the spec exited or closed the queue), or the path is no longer the queue's pipe.</exception>
    /// <exception cref="FileNotFoundException">A semaphore no longer exists.</exception>
    public static SharedQueue Open(string spec)
    {
        var f = SyncDescriptor.Parse(spec, SpecPrefix, "queue");
        string kindText = SyncDescriptor.Required(f, "kind", spec, "queue");
        SharedQueueKind kind = kindText switch
        {
            "queue" => SharedQueueKind.Queue,
            "joinable" => SharedQueueKind.Joinable,
            "simple" => SharedQueueKind.Simple,
            _ => throw new FormatException($"queue spec has kind '{kindText}' (queue, joinable or simple): '{spec}'"),
        };
        string pipeText = SyncDescriptor.Required(f, "pipe", spec, "queue");
        int maxSize = 0;
        if (kind != SharedQueueKind.Simple
            && (!int.TryParse(SyncDescriptor.Required(f, "maxsize", spec, "queue"), out maxSize) || maxSize <= 0))
        {
            throw new FormatException($"queue spec has a bad maxsize: '{spec}'");
        }
        var opened = new List<IDisposable>();
        try
        {
            var (reader, readFd) = OpenEnd(SyncDescriptor.Required(f, "read", spec, "queue"), pipeText, readable: true);
            opened.Add(reader);
            var (writer, _) = OpenEnd(SyncDescriptor.Required(f, "write", spec, "queue"), pipeText, readable: false);
            opened.Add(writer);
            SharedLock rlock = Add(opened, SharedLock.Open(SyncDescriptor.Required(f, "rlock", spec, "queue")));
            SharedLock wlock = Add(opened, SharedLock.Open(SyncDescriptor.Required(f, "wlock", spec, "queue")));
            SharedSemaphore? sem = null, unfinished = null;
            SharedCondition? cond = null;
            if (kind != SharedQueueKind.Simple)
            {
                sem = Add(opened, SharedSemaphore.Open(SyncDescriptor.Required(f, "sem", spec, "queue"), maxSize));
            }
            if (kind == SharedQueueKind.Joinable)
            {
                unfinished = Add(opened, SharedSemaphore.Open(SyncDescriptor.Required(f, "unfinished", spec, "queue")));
                string condition = $"{SharedCondition.Prefix};lock={SyncDescriptor.Required(f, "lock", spec, "queue")};" +
                    $"lockkind={(f.TryGetValue("lockkind", out var lk) ? lk : "rlock")};sleeping={SyncDescriptor.Required(f, "sleeping", spec, "queue")};" +
                    $"woken={SyncDescriptor.Required(f, "woken", spec, "queue")};wait={SyncDescriptor.Required(f, "wait", spec, "queue")}";
                cond = Add(opened, SharedCondition.Open(condition));
            }
            return new SharedQueue(kind, maxSize, reader, readFd, writer, rlock, wlock, sem, unfinished, cond);
        }
        catch
        {
            foreach (var d in opened)
            {
                d.Dispose();
            }
            throw;
        }
    }

    private static T Add<T>(List<IDisposable> opened, T item)
        where T : IDisposable
    {
        opened.Add(item);
        return item;
    }

    /// <summary>Puts one value, waiting up to <paramref name="timeout"/> (null: for ever) while the queue is full (<c>maxsize</c> items).</summary>
    /// <exception cref="TimeoutException">The queue stayed full (Python's <c>queue.Full</c>).</exception>
    /// <exception cref="ValueConversionException">The value has no pickle here (see <see cref="PickleValues"/>).</exception>
    /// <exception cref="IOException">The pipe broke.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Put(object? value, TimeSpan? timeout = null)
    {
        if (!TryPut(value, timeout))
        {
            throw new TimeoutException($"SharedQueue.Put: the queue stayed full ({MaxSize} items) for {timeout} (raise the timeout, or get items)");
        }
    }

    /// <summary>Puts one value unless the queue stays full for <paramref name="timeout"/> (null: for ever; zero: try once).</summary>
    /// <returns>False if the queue stayed full.</returns>
    /// <exception cref="ValueConversionException">The value has no pickle here.</exception>
    /// <exception cref="IOException">The pipe broke.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool TryPut(object? value, TimeSpan? timeout)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        byte[] data = PickleValues.Serialize(value); // before any lock, as the feeder thread
        if (_sem is not null && !_sem.Wait(SyncDescriptor.Normalize(timeout)))
        {
            return false;
        }
        try
        {
            if (_cond is not null)
            {
                using (_cond.EnterScope())
                {
                    _unfinished!.Release();
                }
            }
            using (_wlock.EnterScope())
            {
                _writer.SendBytes(data);
            }
        }
        catch
        {
            _sem?.Release(); // as the feeder on an error: the item never entered the queue
            throw;
        }
        return true;
    }

    /// <summary>Removes one value, waiting up to <paramref name="timeout"/> (null: for ever; zero: only if one is there).</summary>
    /// <param name="timeout">How long to wait for an item.</param>
    /// <param name="value">The value (an untyped graph, see <see cref="PickleValues"/>), or null.</param>
    /// <returns>False if nothing arrived in time.</returns>
    /// <exception cref="PickleFormatException">The item is not a plain value (it is consumed).</exception>
    /// <exception cref="EndOfStreamException">Every writer closed the pipe.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool TryGet(TimeSpan? timeout, out object? value)
    {
        value = null;
        byte[]? data = Receive(SyncDescriptor.Normalize(timeout));
        if (data is null)
        {
            return false;
        }
        value = PickleValues.DeserializeObject(data);
        return true;
    }

    /// <summary>Removes one value converted to <typeparamref name="T"/>, waiting up to <paramref name="timeout"/>.</summary>
    /// <returns>False if nothing arrived in time.</returns>
    /// <exception cref="PickleFormatException">The item is not a plain value (it is consumed).</exception>
    /// <exception cref="ValueConversionException">The value does not convert to <typeparamref name="T"/> (it is consumed).</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool TryGet<T>(TimeSpan? timeout, out T value)
    {
        value = default!;
        if (!TryGet(timeout, out object? graph))
        {
            return false;
        }
        value = PickleValues.Convert<T>(graph);
        return true;
    }

    /// <summary>Removes one value converted to <typeparamref name="T"/> (<c>object</c>: the untyped graph).</summary>
    /// <exception cref="TimeoutException">Nothing arrived within <paramref name="timeout"/> (Python's <c>queue.Empty</c>).</exception>
    /// <exception cref="PickleFormatException">The item is not a plain value (it is consumed).</exception>
    /// <exception cref="ValueConversionException">The value does not convert to <typeparamref name="T"/>.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public T Get<T>(TimeSpan? timeout = null) =>
        TryGet(timeout, out T value) ? value
        : throw new TimeoutException($"SharedQueue.Get: nothing arrived within {timeout} (raise the timeout)");

    /// <summary>Removes one value as an untyped graph (see <see cref="Get{T}"/>).</summary>
    /// <exception cref="TimeoutException">Nothing arrived within <paramref name="timeout"/>.</exception>
    /// <exception cref="PickleFormatException">The item is not a plain value (it is consumed).</exception>
    public object? Get(TimeSpan? timeout = null) => Get<object?>(timeout);

    private byte[]? Receive(TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        long start = Stopwatch.GetTimestamp();
        if (!_rlock.TryAcquire(timeout))
        {
            return null;
        }
        byte[]? data;
        try
        {
            if (timeout != Timeout.InfiniteTimeSpan)
            {
                if (!Poll(FdPoll.Milliseconds(timeout - Stopwatch.GetElapsedTime(start))))
                {
                    return null;
                }
            }
            data = _reader.RecvBytes() ?? throw new EndOfStreamException("SharedQueue: every writer closed the pipe");
            _sem?.Release();
        }
        finally
        {
            _rlock.Release();
        }
        return data;
    }

    /// <summary>Python's <c>empty()</c>: true if no item is in the pipe now (items still in a Python feeder thread do not count).</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool Empty()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return !Poll(0);
    }

    /// <summary>Python's <c>qsize()</c>: <c>maxsize</c> minus the size semaphore's value (items put, fed or not, and not yet got).</summary>
    /// <exception cref="NotSupportedException">A SimpleQueue (it has no size).</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public int QSize()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _sem is null ? throw new NotSupportedException("a SimpleQueue has no qsize") : MaxSize - _sem.CurrentCount;
    }

    /// <summary>Python's <c>full()</c>: the size semaphore is at zero.</summary>
    /// <exception cref="NotSupportedException">A SimpleQueue.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool Full()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _sem is null ? throw new NotSupportedException("a SimpleQueue has no size") : _sem.CurrentCount == 0;
    }

    /// <summary>Python's <c>JoinableQueue.task_done()</c>: one item got earlier is done; at zero unfinished items, wakes every <c>join</c>.</summary>
    /// <exception cref="InvalidOperationException">Called more often than items were put (Python's ValueError).</exception>
    /// <exception cref="NotSupportedException">Not a JoinableQueue.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void TaskDone()
    {
        var (cond, unfinished) = Joinable();
        using (cond.EnterScope())
        {
            if (!unfinished.Wait(TimeSpan.Zero))
            {
                throw new InvalidOperationException("task_done() called too many times");
            }
            if (unfinished.CurrentCount == 0)
            {
                cond.NotifyAll();
            }
        }
    }

    /// <summary>Python's <c>JoinableQueue.join()</c>: waits until every item put has been marked done (<see cref="TaskDone"/> here or <c>task_done</c> in Python).</summary>
    /// <param name="timeout">Null: for ever (as Python's); else how long to wait for the last task_done.</param>
    /// <returns>False if <paramref name="timeout"/> passed first.</returns>
    /// <exception cref="NotSupportedException">Not a JoinableQueue.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool Join(TimeSpan? timeout = null)
    {
        var (cond, unfinished) = Joinable();
        TimeSpan limit = SyncDescriptor.Normalize(timeout);
        long start = Stopwatch.GetTimestamp();
        if (!cond.TryAcquire(limit))
        {
            return false;
        }
        try
        {
            if (unfinished.CurrentCount == 0)
            {
                return true;
            }
            if (limit == Timeout.InfiniteTimeSpan)
            {
                return cond.Wait();
            }
            TimeSpan left = limit - Stopwatch.GetElapsedTime(start);
            return cond.Wait(left < TimeSpan.Zero ? TimeSpan.Zero : left);
        }
        finally
        {
            cond.Release();
        }
    }

    private (SharedCondition, SharedSemaphore) Joinable()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _cond is null ? throw new NotSupportedException($"task_done/join need a JoinableQueue (this is a {Kind})") : (_cond, _unfinished!);
    }

    /// <summary>Closes this process's pipe ends and semaphore handles (never unlinks: Python owns them). Idempotent.</summary>
    public void Close() => Dispose();

    /// <inheritdoc cref="Close"/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _reader.Dispose();
        _writer.Dispose();
        _rlock.Dispose();
        _wlock.Dispose();
        _sem?.Dispose();
        _unfinished?.Dispose();
        _cond?.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"SharedQueue({Kind}, maxsize={MaxSize})";

    // ---- the pipe ------------------------------------------------------------------------------

    private const int O_WRONLY = 1;
    private const int O_NONBLOCK = 0x800;
    private const int O_CLOEXEC = 0x80000;
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;
    private const int EINTR = 4;

    private static (Connection, int) OpenEnd(string path, string pipe, bool readable)
    {
        int fd;
        while ((fd = open(path, (readable ? 0 : O_WRONLY) | O_NONBLOCK | O_CLOEXEC, 0)) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR)
            {
                throw new IOException($"cannot reopen the queue's pipe {path}: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}); " +
                    "the process that gave the spec must be alive and keep the queue open until it is opened");
            }
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            string? target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
            if (target != $"pipe:[{pipe}]")
            {
                throw new IOException($"{path} is no longer the queue's pipe (pipe:[{pipe}], found {target}): the process that gave the spec closed the queue");
            }
            int flags = fcntl(fd, F_GETFL, 0);
            if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
            {
                throw new IOException($"fcntl on {path} failed: errno {Marshal.GetLastPInvokeError()}");
            }
            var stream = new FileStream(handle, readable ? FileAccess.Read : FileAccess.Write, 1);
            return (readable ? new Connection(stream, null) : new Connection(null, stream), fd);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private bool Poll(int milliseconds) => FdPoll.Readable(_readFd, milliseconds);

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int cmd, int arg);
}
