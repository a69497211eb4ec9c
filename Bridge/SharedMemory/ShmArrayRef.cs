using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Bridge.Internal;
using Bridge.Values;
using MessagePack;

namespace Bridge;

/*
 * Design notes — ext 3, the shared-memory array reference (Bridge/PROTOCOL.md "Values", Bridge/SHARED.md)
 *
 * A numpy array that lives in a shared memory segment travels as a reference, not as its bytes:
 *
 *   offset  size      field
 *   0       1         dtype code (the ext 2 codes: 1 bool … 11 float64)
 *   1       1         flags: bit 0 = writable (the caller lets the callee write); other bits 0
 *   2       1         ndim (0..32)
 *   3       1         reserved, 0
 *   4       8         byte offset of the first element inside the segment (uint64, little-endian)
 *   12      8 × ndim  shape (uint64 each, little-endian); elements are C-contiguous, little-endian
 *   12+8n   rest      segment name, UTF-8, no leading slash (1..250 bytes)
 *
 * The receiver maps the segment by name (SharedMemorySegment.Open), uses the elements in place and
 * closes its mapping when the call is over; it never unlinks (the sender owns the segment).
 */

/// <summary>
/// A reference to a C-contiguous array inside a shared memory segment: MessagePack ext type 3 of
/// Bridge/PROTOCOL.md. A numpy array in shared memory arrives in a .NET worker as one of these and
/// becomes a <see cref="Span{T}"/>/<see cref="Memory{T}"/> over the caller's own pages.
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed class ShmArrayRef
{
    /// <summary>The MessagePack ext type code of a shared-memory array reference.</summary>
    public const sbyte ExtType = 3;

    private const int HeaderSize = 12;
    private const int MaxDims = 32;

    /// <summary>Creates a reference.</summary>
    /// <exception cref="ArgumentException">Unknown dtype code, bad name, or a negative offset/extent.</exception>
    public ShmArrayRef(string segmentName, byte dtype, long byteOffset, long[] shape, bool writable = true)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (DType.Size(dtype) == 0)
        {
            throw new ArgumentException($"unknown dtype code {dtype}", nameof(dtype));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(byteOffset);
        if (shape.Length > MaxDims)
        {
            throw new ArgumentException($"at most {MaxDims} dimensions", nameof(shape));
        }
        long count = 1;
        foreach (var d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            count = checked(count * d);
        }
        SegmentName = SharedMemorySegment.NormalizeName(segmentName);
        DTypeCode = dtype;
        ByteOffset = byteOffset;
        Shape = (long[])shape.Clone();
        Count = count;
        Writable = writable;
    }

    /// <summary>The segment's name (no leading slash).</summary>
    public string SegmentName { get; }

    /// <summary>The ext 2 dtype code of the elements.</summary>
    public byte DTypeCode { get; }

    /// <summary>The .NET element type (<c>double</c> for float64, …).</summary>
    public Type ElementType => DType.ElementType(DTypeCode)!;

    /// <summary>Size in bytes of one element.</summary>
    public int ElementSize => DType.Size(DTypeCode);

    /// <summary>Byte offset of the first element inside the segment.</summary>
    public long ByteOffset { get; }

    /// <summary>The array's shape (C order).</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The number of elements (product of the shape).</summary>
    public long Count { get; }

    /// <summary>Whether the sender lets the receiver write.</summary>
    public bool Writable { get; }

    /// <summary>Parses an ext 3 body.</summary>
    /// <exception cref="ValueConversionException">The body is malformed.</exception>
    public static ShmArrayRef Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length < HeaderSize + 1)
        {
            throw Bad($"body of {body.Length} bytes is too short");
        }
        byte dtype = body[0], flags = body[1], ndim = body[2];
        if (DType.Size(dtype) == 0)
        {
            throw Bad($"unknown dtype code {dtype}");
        }
        if ((flags & ~1) != 0 || body[3] != 0)
        {
            throw Bad("reserved flag bits set");
        }
        if (ndim > MaxDims || body.Length < HeaderSize + 8 * ndim + 1)
        {
            throw Bad($"bad ndim {ndim} for a body of {body.Length} bytes");
        }
        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(4));
        var shape = new long[ndim];
        for (int i = 0; i < ndim; i++)
        {
            ulong d = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(HeaderSize + 8 * i));
            if (d > long.MaxValue)
            {
                throw Bad("dimension out of range");
            }
            shape[i] = (long)d;
        }
        if (offset > long.MaxValue)
        {
            throw Bad("offset out of range");
        }
        var nameBytes = body.Slice(HeaderSize + 8 * ndim);
        if (nameBytes.Length > 250)
        {
            throw Bad("segment name longer than 250 bytes");
        }
        string name;
        try
        {
            name = new UTF8Encoding(false, true).GetString(nameBytes);
            return new ShmArrayRef(name, dtype, (long)offset, shape, (flags & 1) != 0);
        }
        catch (ArgumentException e)
        {
            throw new ValueConversionException($"bad ext 3 (shared-memory array reference): {e.Message}", e);
        }
        catch (OverflowException e)
        {
            throw new ValueConversionException("bad ext 3 (shared-memory array reference): too many elements", e);
        }
    }

    /// <summary>Reads an ext 3 value if one is next; otherwise leaves the reader where it was and returns false.</summary>
    /// <exception cref="ValueConversionException">The next value is an ext 3 with a malformed body.</exception>
    public static bool TryRead(ref MessagePackReader reader, out ShmArrayRef? value)
    {
        value = null;
        if (reader.End || reader.NextMessagePackType != MessagePackType.Extension)
        {
            return false;
        }
        var peek = reader.CreatePeekReader();
        var header = peek.ReadExtensionFormatHeader();
        if (header.TypeCode != ExtType)
        {
            return false;
        }
        reader.ReadExtensionFormatHeader();
        var body = reader.ReadRaw(header.Length);
        value = body.IsSingleSegment ? Parse(body.FirstSpan) : Parse(body.ToArray());
        return true;
    }

    /// <summary>The ext 3 body.</summary>
    public byte[] ToBytes()
    {
        var name = Encoding.UTF8.GetBytes(SegmentName);
        var body = new byte[HeaderSize + 8 * Shape.Count + name.Length];
        body[0] = DTypeCode;
        body[1] = (byte)(Writable ? 1 : 0);
        body[2] = (byte)Shape.Count;
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(4), (ulong)ByteOffset);
        for (int i = 0; i < Shape.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(HeaderSize + 8 * i), (ulong)Shape[i]);
        }
        name.CopyTo(body.AsSpan(HeaderSize + 8 * Shape.Count));
        return body;
    }

    /// <summary>Writes this reference as an ext 3 value.</summary>
    public void Write(ref MessagePackWriter writer)
    {
        var body = ToBytes();
        writer.WriteExtensionFormat(new ExtensionResult(ExtType, body));
    }

    /// <summary>Maps the referenced segment and checks that the array lies inside it. Dispose the segment when done.</summary>
    /// <exception cref="FileNotFoundException">The segment no longer exists.</exception>
    /// <exception cref="ValueConversionException">The array does not lie inside the segment.</exception>
    public SharedMemorySegment Open()
    {
        var segment = SharedMemorySegment.Open(SegmentName);
        if (ByteOffset + Count * ElementSize > segment.Size)
        {
            long size = segment.Size;
            segment.Dispose();
            throw Bad($"array of {Count} × {ElementSize} bytes at offset {ByteOffset} exceeds segment '{SegmentName}' of {size} bytes");
        }
        return segment;
    }

    /// <summary>The elements inside <paramref name="segment"/> (opened with <see cref="Open"/>) as a span.</summary>
    /// <exception cref="ValueConversionException"><typeparamref name="T"/> is not the element type, or too many elements.</exception>
    public Span<T> AsSpan<T>(SharedMemorySegment segment)
        where T : unmanaged
    {
        CheckType<T>();
        return segment.AsSpan<T>(ByteOffset, CheckedLength());
    }

    /// <summary>The elements inside <paramref name="segment"/> (opened with <see cref="Open"/>) as a memory (valid until the segment is disposed).</summary>
    /// <exception cref="ValueConversionException"><typeparamref name="T"/> is not the element type, or too many elements.</exception>
    public Memory<T> AsMemory<T>(SharedMemorySegment segment)
        where T : unmanaged
    {
        CheckType<T>();
        return segment.AsMemory<T>(ByteOffset, CheckedLength());
    }

    /// <summary>
    /// Maps the segment and returns the elements in place as a <see cref="Memory{T}"/> that owns the mapping:
    /// in the .NET worker the mapping is closed when the call returns (ShmCallScope); elsewhere it stays until the process exits (use <see cref="Open"/> and <see cref="AsMemory{T}"/> to close it yourself).
    /// </summary>
    /// <exception cref="FileNotFoundException">The segment no longer exists.</exception>
    /// <exception cref="ValueConversionException"><typeparamref name="T"/> is not the element type, or the array does not lie inside the segment.</exception>
    public Memory<T> MapMemory<T>()
        where T : unmanaged
    {
        CheckType<T>();
        int length = CheckedLength();
        var segment = Open();
        try
        {
            segment.CheckRange<T>(ByteOffset, length);
            // The enclosing ShmCallScope (the worker's call) closes the mapping when the call is over;
            // outside a scope it lives until the process exits (no finalizer: a span taken from the
            // memory would not keep it alive, CA2015).
            ShmCallScope.Track(segment);
            return new SegmentMemoryManager<T>(segment, ByteOffset, length).Memory;
        }
        catch
        {
            segment.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <see cref="MapMemory{T}"/> for a run-time element type <paramref name="element"/>, boxed (a <c>Memory&lt;element&gt;</c>):
    /// the hook the value codec uses for <c>Memory&lt;T&gt;</c>/<c>Span&lt;T&gt;</c> parameters (no generic constraint there).
    /// </summary>
    /// <exception cref="ValueConversionException"><paramref name="element"/> is not the element type, or the array does not fit the segment.</exception>
    /// <exception cref="FileNotFoundException">The segment no longer exists.</exception>
    internal object MapMemoryBoxed(Type element)
    {
        if (element != ElementType)
        {
            throw new ValueConversionException(
                $"cannot convert ext 3 ({DType.Name(DTypeCode)} array in shared memory) to {element.Name} elements");
        }
        return DTypeCode switch
        {
            DType.Bool => MapMemory<bool>(),
            DType.Int8 => MapMemory<sbyte>(),
            DType.UInt8 => MapMemory<byte>(),
            DType.Int16 => MapMemory<short>(),
            DType.UInt16 => MapMemory<ushort>(),
            DType.Int32 => MapMemory<int>(),
            DType.UInt32 => MapMemory<uint>(),
            DType.Int64 => MapMemory<long>(),
            DType.UInt64 => MapMemory<ulong>(),
            DType.Float32 => MapMemory<float>(),
            _ => MapMemory<double>(),
        };
    }

    /// <summary>Maps the segment, copies the elements into a new array of their natural type (<c>double[]</c>, …) and closes the mapping.</summary>
    /// <exception cref="FileNotFoundException">The segment no longer exists.</exception>
    /// <exception cref="ValueConversionException">The array does not lie inside the segment.</exception>
    public Array ToArray()
    {
        using var segment = Open();
        var bytes = segment.AsSpan<byte>(ByteOffset, checked((int)(Count * ElementSize)));
        return DType.Decode(new ReadOnlySequence<byte>(Prepend(DTypeCode, bytes)));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"ShmArrayRef({SegmentName}+{ByteOffset}, {DType.Name(DTypeCode)}[{string.Join(", ", Shape)}]{(Writable ? "" : ", read-only")})";

    private static byte[] Prepend(byte code, ReadOnlySpan<byte> data)
    {
        var buffer = new byte[data.Length + 1];
        buffer[0] = code;
        data.CopyTo(buffer.AsSpan(1));
        return buffer;
    }

    private void CheckType<T>()
        where T : unmanaged
    {
        if (typeof(T) != ElementType)
        {
            throw new ValueConversionException(
                $"cannot convert ext 3 ({DType.Name(DTypeCode)} array in shared memory) to {typeof(T).Name} elements");
        }
    }

    private int CheckedLength() =>
        Count <= int.MaxValue ? (int)Count : throw new ValueConversionException($"shared-memory array of {Count} elements is too long for a span");

    private static ValueConversionException Bad(string why) => new($"bad ext 3 (shared-memory array reference): {why}");
}
