using System.Buffers;

namespace Bridge.Tests.Support;

/// <summary>Builds a multi-segment <see cref="ReadOnlySequence{T}"/> of one byte per segment (partial-read tests).</summary>
public static class OneByteSegments
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>The first <paramref name="count"/> bytes of <paramref name="data"/>, one byte per segment.</summary>
    public static ReadOnlySequence<byte> Prefix(byte[] data, int count)
    {
        if (count == 0)
            return ReadOnlySequence<byte>.Empty;
        var first = new Segment(data.AsMemory(0, 1), 0);
        var last = first;
        for (int i = 1; i < count; i++)
            last = last.Append(data.AsMemory(i, 1));
        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }
}
