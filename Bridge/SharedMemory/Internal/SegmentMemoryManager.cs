using System.Buffers;

namespace Bridge.Internal;

/// <summary>A <see cref="Memory{T}"/> over part of a mapped <see cref="SharedMemorySegment"/> (no copy; valid until the segment is disposed).</summary>
internal sealed unsafe class SegmentMemoryManager<T> : MemoryManager<T>
    where T : unmanaged
{
    private readonly SharedMemorySegment _segment;
    private readonly long _byteOffset;
    private readonly int _length;

    public SegmentMemoryManager(SharedMemorySegment segment, long byteOffset, int length)
    {
        _segment = segment;
        _byteOffset = byteOffset;
        _length = length;
    }

    public override Span<T> GetSpan() => new(_segment.PointerAt(_byteOffset), _length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        // The mapping never moves: no pinning needed, the segment keeps it alive until disposed.
        return new MemoryHandle((T*)_segment.PointerAt(_byteOffset) + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
