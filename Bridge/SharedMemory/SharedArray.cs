namespace Bridge;

/// <summary>
/// A <c>dotbridge.Array</c>/<c>RawArray</c> (or one made here) seen from .NET: elements of
/// <typeparamref name="T"/> in a named shared memory segment, plus the optional cross-language lock.
/// </summary>
/// <remarks>
/// <para>The indexer and <see cref="ToArray"/> take the lock when there is one (as Python's
/// <c>SynchronizedArray</c> does per item); <see cref="AsSpan"/> is raw access — hold <see cref="GetLock"/> yourself.</para>
/// <para>Thread-safety: as safe as the lock makes it; the object itself has no mutable state.</para>
/// </remarks>
public sealed class SharedArray<T> : IDisposable
    where T : unmanaged
{
    private readonly SharedMemorySegment _segment;
    private readonly SharedLock? _lock;

    private SharedArray(SharedMemorySegment segment, SharedLock? sharedLock, SharedCTypeDescriptor descriptor)
    {
        _segment = segment;
        _lock = sharedLock;
        Descriptor = descriptor;
    }

    /// <summary>The by-name description (pass <c>Descriptor.ToString()</c> to Python's <c>dotbridge.sharedctypes.open</c>).</summary>
    public SharedCTypeDescriptor Descriptor { get; }

    /// <summary>The number of elements.</summary>
    public int Length => Descriptor.Length;

    /// <summary>Opens an array described by Python's <c>dotbridge.sharedctypes.descriptor(arr)</c>.</summary>
    /// <exception cref="FormatException">Not a descriptor.</exception>
    /// <exception cref="ArgumentException">The typecode does not match <typeparamref name="T"/>.</exception>
    /// <exception cref="FileNotFoundException">The segment or lock no longer exists.</exception>
    public static SharedArray<T> Open(string descriptor) => Open(SharedCTypeDescriptor.Parse(descriptor));

    /// <summary>Opens an array from a parsed descriptor.</summary>
    /// <exception cref="ArgumentException">The typecode does not match <typeparamref name="T"/>.</exception>
    /// <exception cref="FileNotFoundException">The segment or lock no longer exists.</exception>
    public static SharedArray<T> Open(SharedCTypeDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        SharedCTypeDescriptor.CheckElementType<T>(descriptor.Typecode);
        var segment = SharedMemorySegment.Open(descriptor.Segment);
        try
        {
            segment.CheckRange<T>(descriptor.Offset, descriptor.Length);
            var sharedLock = descriptor.LockName is null ? null : SharedLock.Open(descriptor.LockName);
            return new SharedArray<T>(segment, sharedLock, descriptor);
        }
        catch
        {
            segment.Dispose();
            throw;
        }
    }

    /// <summary>Creates a zero-filled array in a new segment (with a new lock unless <paramref name="withLock"/> is false); this process owns both.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> has no typecode.</exception>
    public static unsafe SharedArray<T> Create(int length, bool withLock = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        char typecode = SharedCTypeDescriptor.TypecodeOf<T>();
        var segment = SharedMemorySegment.Create(Math.Max(1L, (long)length * sizeof(T)));
        var sharedLock = withLock ? SharedLock.Create() : null;
        return new SharedArray<T>(segment, sharedLock, new SharedCTypeDescriptor(segment.Name, typecode, length, 0, sharedLock?.Name));
    }

    /// <summary>Element <paramref name="index"/>, read or written under the lock (if any).</summary>
    /// <exception cref="IndexOutOfRangeException">Bad index.</exception>
    public T this[int index]
    {
        get
        {
            using var scope = _lock?.EnterScope();
            return AsSpan()[index];
        }
        set
        {
            using var scope = _lock?.EnterScope();
            AsSpan()[index] = value;
        }
    }

    /// <summary>The elements in place (no copy, no lock).</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public Span<T> AsSpan() => _segment.AsSpan<T>(Descriptor.Offset, Descriptor.Length);

    /// <summary>The elements as a <see cref="Memory{T}"/> (no copy, no lock; valid until disposed).</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public Memory<T> AsMemory() => _segment.AsMemory<T>(Descriptor.Offset, Descriptor.Length);

    /// <summary>A copy of the elements, taken under the lock (if any).</summary>
    public T[] ToArray()
    {
        using var scope = _lock?.EnterScope();
        return AsSpan().ToArray();
    }

    /// <summary>The lock (Python's <c>get_lock()</c>), or null for a raw array.</summary>
    public SharedLock? GetLock() => _lock;

    /// <summary>Unlinks the segment and lock (only when this process created them).</summary>
    /// <exception cref="InvalidOperationException">Opened, not created, here.</exception>
    public void Unlink()
    {
        _segment.Unlink();
        _lock?.Unlink();
    }

    /// <summary>Closes the mapping and the lock handle. Idempotent.</summary>
    public void Dispose()
    {
        _segment.Dispose();
        _lock?.Dispose();
    }
}
