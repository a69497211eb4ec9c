using System.Buffers;

namespace Bridge.Internal;

/// <summary>
/// A <see cref="Memory{T}"/> over a segment mapped for one call: the enclosing <see cref="ShmCallScope"/>
/// closes the mapping when the call is over. There is deliberately no finalizer (a span taken from this
/// memory does not keep it alive, CA2015): outside a scope the mapping lives until the process exits.
/// </summary>
internal sealed unsafe class OwningSegmentMemoryManager<T> : MemoryManager<T>
    where T : unmanaged
{
    private readonly SharedMemorySegment _segment;
    private readonly long _byteOffset;
    private readonly int _length;

    public OwningSegmentMemoryManager(SharedMemorySegment segment, long byteOffset, int length)
    {
        _segment = segment;
        _byteOffset = byteOffset;
        _length = length;
        ShmCallScope.Track(segment);
    }

    public override Span<T> GetSpan() => new(_segment.PointerAt(_byteOffset), _length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        return new MemoryHandle((T*)_segment.PointerAt(_byteOffset) + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
