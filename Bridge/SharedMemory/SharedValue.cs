namespace Bridge;

/// <summary>
/// A <c>dotbridge.Value</c>/<c>RawValue</c> (or one made here) seen from .NET: one <typeparamref name="T"/>
/// in a named shared memory segment, plus the optional cross-language lock.
/// </summary>
/// <remarks>
/// <para><see cref="Value"/> reads and writes under the lock when there is one (as Python's
/// <c>Synchronized.value</c>); for read-modify-write hold <see cref="GetLock"/> and use <see cref="Raw"/>:
/// <c>using (v.GetLock()!.EnterScope()) v.Raw += 1;</c></para>
/// <para>Thread-safety: as safe as the lock makes it.</para>
/// </remarks>
public sealed class SharedValue<T> : IDisposable
    where T : unmanaged
{
    private readonly SharedArray<T> _array;

    private SharedValue(SharedArray<T> array) => _array = array;

    /// <summary>The by-name description (pass <c>Descriptor.ToString()</c> to Python's <c>dotbridge.sharedctypes.open</c>).</summary>
    public SharedCTypeDescriptor Descriptor => _array.Descriptor;

    /// <summary>Opens a value described by Python's <c>dotbridge.sharedctypes.descriptor(v)</c>.</summary>
    /// <exception cref="FormatException">Not a descriptor.</exception>
    /// <exception cref="ArgumentException">The typecode does not match <typeparamref name="T"/>, or it is not a single value.</exception>
    /// <exception cref="FileNotFoundException">The segment or lock no longer exists.</exception>
    public static SharedValue<T> Open(string descriptor)
    {
        var parsed = SharedCTypeDescriptor.Parse(descriptor);
        if (parsed.Length != 1)
        {
            throw new ArgumentException($"descriptor holds {parsed.Length} elements, not one value (use SharedArray<T>)", nameof(descriptor));
        }
        return new SharedValue<T>(SharedArray<T>.Open(parsed));
    }

    /// <summary>Creates a value in a new segment (with a lock unless <paramref name="withLock"/> is false).</summary>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> has no typecode.</exception>
    public static SharedValue<T> Create(T initial = default, bool withLock = true)
    {
        var value = new SharedValue<T>(SharedArray<T>.Create(1, withLock));
        value.Raw = initial;
        return value;
    }

    /// <summary>The value, read or written under the lock (if any).</summary>
    public T Value
    {
        get => _array[0];
        set => _array[0] = value;
    }

    /// <summary>The value in place, without the lock.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public ref T Raw => ref _array.AsSpan()[0];

    /// <summary>The lock (Python's <c>get_lock()</c>), or null for a raw value.</summary>
    public SharedLock? GetLock() => _array.GetLock();

    /// <summary>Unlinks the segment and lock (creator only).</summary>
    /// <exception cref="InvalidOperationException">Opened, not created, here.</exception>
    public void Unlink() => _array.Unlink();

    /// <summary>Closes the mapping and the lock handle. Idempotent.</summary>
    public void Dispose() => _array.Dispose();
}
