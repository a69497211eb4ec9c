using Bridge.Connections.Internal;

namespace Bridge.Connections;

/// <summary>
/// The .NET side of Python's <c>dotbridge.queues.ValueQueue</c>: a multi-producer,
/// multi-consumer queue of MessagePack values over one pipe, guarded by two cross-language
/// locks (writers, readers). Open it from the spec string Python's <c>q.spec</c> gives.
/// </summary>
/// <remarks>Thread-safe (the shared locks serialize readers and writers). Linux only.</remarks>
public sealed class ValueQueue : IDisposable
{
    private readonly Connection _reader;
    private readonly Connection _writer;
    private readonly FileStream _readStream;
    private readonly SharedLock _rlock;
    private readonly SharedLock _wlock;

    private ValueQueue(FileStream read, FileStream write, SharedLock rlock, SharedLock wlock)
    {
        _readStream = read;
        _reader = new Connection(read, null);
        _writer = new Connection(null, write);
        _rlock = rlock;
        _wlock = wlock;
    }

    /// <summary>Opens a queue from <c>dotbridge.queue:v1;read=…;write=…;rlock=…;wlock=…</c>.</summary>
    /// <exception cref="ArgumentException">The spec is malformed.</exception>
    /// <exception cref="IOException">The pipe cannot be opened (its owner exited?).</exception>
    public static ValueQueue Open(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var parts = spec.Split(';');
        if (parts.Length != 5 || parts[0] != "dotbridge.queue:v1")
            throw new ArgumentException($"not a dotbridge.queue:v1 spec: {spec}", nameof(spec));
        var kv = parts[1..].Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        var read = new FileStream(kv["read"], FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        var write = new FileStream(kv["write"], FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
        return new ValueQueue(read, write, SharedLock.Open(kv["rlock"]), SharedLock.Open(kv["wlock"]));
    }

    /// <summary>Puts one value (blocks while the pipe is full).</summary>
    /// <exception cref="ValueConversionException">The value has no MessagePack form.</exception>
    public void Put(object? value)
    {
        byte[] data = MsgPackValues.Serialize(value);
        using (_wlock.EnterScope())
            _writer.SendBytes(data);
    }

    /// <summary>Removes one value, waiting up to <paramref name="timeout"/> (infinite if null).</summary>
    /// <returns>true and the value, or false if nothing arrived in time.</returns>
    public bool TryGet(TimeSpan? timeout, out object? value)
    {
        var deadline = timeout is { } t ? DateTime.UtcNow + t : (DateTime?)null;
        value = null;
        if (!_rlock.TryAcquire(timeout ?? Timeout.InfiniteTimeSpan))
            return false;
        try
        {
            int ms = deadline is { } d ? (int)Math.Max(0, (d - DateTime.UtcNow).TotalMilliseconds) : -1;
            if (!Poll(ms))
                return false;
            value = _reader.Recv();
            return true;
        }
        finally
        {
            _rlock.Release();
        }
    }

    /// <summary>Removes one value, converted to <typeparamref name="T"/>.</summary>
    /// <exception cref="TimeoutException">Nothing arrived within <paramref name="timeout"/>.</exception>
    public T Get<T>(TimeSpan? timeout = null)
    {
        if (!_rlock.TryAcquire(timeout ?? Timeout.InfiniteTimeSpan))
            throw new TimeoutException("ValueQueue.Get: nothing arrived in time (raise the timeout)");
        try
        {
            if (timeout is { } t && !Poll((int)t.TotalMilliseconds))
                throw new TimeoutException("ValueQueue.Get: nothing arrived in time (raise the timeout)");
            return _reader.Recv<T>();
        }
        finally
        {
            _rlock.Release();
        }
    }

    private bool Poll(int milliseconds) =>
        FdPoll.Readable((int)_readStream.SafeFileHandle.DangerousGetHandle(), milliseconds);

    /// <summary>Closes this process's ends and lock handles (never unlinks the locks: Python owns them).</summary>
    public void Dispose()
    {
        _reader.Dispose();
        _writer.Dispose();
        _rlock.Dispose();
        _wlock.Dispose();
    }
}
