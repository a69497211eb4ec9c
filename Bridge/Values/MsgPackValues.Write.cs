using System.Collections;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Bridge.Values;
using MessagePack;

namespace Bridge;

public static partial class MsgPackValues
{
    /// <summary>Writes <paramref name="value"/> as one MessagePack value (PROTOCOL.md "Values").</summary>
    /// <remarks>
    /// <list type="bullet">
    /// <item>null → nil; bool → bool; every integer type → the smallest int form; an enum → its integer value.</item>
    /// <item><see cref="BigInteger"/> → int when it fits 64 bits, else ext 1 (minimal two's complement, big-endian).</item>
    /// <item><see cref="float"/>/<see cref="double"/> → float64; <see cref="string"/> → str; <see cref="char"/> → str of length 1.</item>
    /// <item><c>byte[]</c>, <c>Memory&lt;byte&gt;</c>, <c>ReadOnlyMemory&lt;byte&gt;</c>, <c>ArraySegment&lt;byte&gt;</c> → bin.</item>
    /// <item>a 1-D array of another primitive type (<c>bool sbyte short ushort int uint long ulong float double</c>) → ext 2.</item>
    /// <item><see cref="IDictionary"/> → map; a tuple (<see cref="ITuple"/>) → array by position; any other <see cref="IEnumerable"/> → array.</item>
    /// </list>
    /// Uses no reflection (safe under Native AOT).
    /// </remarks>
    /// <exception cref="ValueConversionException">The value (or something inside it) has no MessagePack form, or it nests deeper than <paramref name="maxDepth"/> (a cycle, say).</exception>
    public static void Write(ref MessagePackWriter writer, object? value, int maxDepth = DefaultMaxDepth)
    {
        WriteValue(ref writer, value, maxDepth);
    }

    private static void WriteValue(ref MessagePackWriter writer, object? value, int depth)
    {
        switch (value)
        {
            case null:
                writer.WriteNil();
                return;
            case long l:
                writer.Write(l);
                return;
            case int i:
                writer.Write(i);
                return;
            case double d:
                writer.Write(d);
                return;
            case string s:
                writer.Write(s);
                return;
            case bool b:
                writer.Write(b);
                return;
            case byte[] bytes when value.GetType() == typeof(byte[]):
                writer.Write(bytes.AsSpan());
                return;
            case Array array when DType.CodeOfArray(array.GetType()) is var code && code != 0:
                WriteArrayExt(ref writer, array, code);
                return;
            case ulong ul:
                writer.Write(ul);
                return;
            case uint ui:
                writer.Write(ui);
                return;
            case short sh:
                writer.Write(sh);
                return;
            case ushort us:
                writer.Write(us);
                return;
            case sbyte sb:
                writer.Write(sb);
                return;
            case byte by:
                writer.Write(by);
                return;
            case float f:
                writer.Write((double)f);
                return;
            case char c:
                WriteChar(ref writer, c);
                return;
            case BigInteger big:
                WriteBigInteger(ref writer, big);
                return;
            case ShmArrayRef shm: // shm hook: a shared-memory array reference travels as ext 3
                shm.Write(ref writer);
                return;
            case ReadOnlyMemory<byte> rom:
                writer.Write(rom.Span);
                return;
            case Memory<byte> mem:
                writer.Write(mem.Span);
                return;
            case ArraySegment<byte> segment:
                writer.Write(segment.AsSpan());
                return;
            case Enum e:
                WriteEnum(ref writer, e);
                return;
            case IDictionary dictionary:
                WriteMap(ref writer, dictionary, depth);
                return;
            case ITuple tuple:
                WriteTuple(ref writer, tuple, depth);
                return;
            case IEnumerable sequence:
                WriteSequence(ref writer, sequence, depth);
                return;
            default:
                throw new ValueConversionException(
                    $"cannot encode {DescribeType(value.GetType())} as MessagePack (not a type of the value table in PROTOCOL.md)",
                    null, value.GetType(), "");
        }
    }

    private static void WriteChar(ref MessagePackWriter writer, char c)
    {
        writer.Write(c.ToString());
    }

    /// <summary>Writes a big integer: as a plain int when it fits 64 bits, else as ext 1.</summary>
    internal static void WriteBigInteger(ref MessagePackWriter writer, BigInteger value)
    {
        if (value >= long.MinValue && value <= long.MaxValue)
        {
            writer.Write((long)value);
            return;
        }
        if (value.Sign > 0 && value <= ulong.MaxValue)
        {
            writer.Write((ulong)value);
            return;
        }
        int length = value.GetByteCount(isUnsigned: false);
        writer.WriteExtensionFormatHeader(new ExtensionHeader(BigIntegerExtType, (uint)length));
        var span = writer.GetSpan(length);
        value.TryWriteBytes(span, out int written, isUnsigned: false, isBigEndian: true);
        writer.Advance(written);
    }

    private static void WriteEnum(ref MessagePackWriter writer, Enum e)
    {
        var underlying = Enum.GetUnderlyingType(e.GetType());
        if (underlying == typeof(ulong))
        {
            writer.Write(Convert.ToUInt64(e, System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            writer.Write(Convert.ToInt64(e, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static void WriteArrayExt(ref MessagePackWriter writer, Array array, byte code)
    {
        ReadOnlySpan<byte> bytes = code switch
        {
            DType.Bool => MemoryMarshal.AsBytes(((bool[])array).AsSpan()),
            DType.Int8 => MemoryMarshal.AsBytes(((sbyte[])array).AsSpan()),
            DType.UInt8 => (byte[])array,
            DType.Int16 => MemoryMarshal.AsBytes(((short[])array).AsSpan()),
            DType.UInt16 => MemoryMarshal.AsBytes(((ushort[])array).AsSpan()),
            DType.Int32 => MemoryMarshal.AsBytes(((int[])array).AsSpan()),
            DType.UInt32 => MemoryMarshal.AsBytes(((uint[])array).AsSpan()),
            DType.Int64 => MemoryMarshal.AsBytes(((long[])array).AsSpan()),
            DType.UInt64 => MemoryMarshal.AsBytes(((ulong[])array).AsSpan()),
            DType.Float32 => MemoryMarshal.AsBytes(((float[])array).AsSpan()),
            _ => MemoryMarshal.AsBytes(((double[])array).AsSpan()),
        };
        DType.Write(ref writer, code, bytes);
    }

    private static void WriteMap(ref MessagePackWriter writer, IDictionary dictionary, int depth)
    {
        EnterContainer(depth, dictionary.Count);
        writer.WriteMapHeader(dictionary.Count);
        var e = dictionary.GetEnumerator();
        try
        {
            while (e.MoveNext())
            {
                var entry = e.Entry;
                WriteElement(ref writer, entry.Key, depth, KeyStep);
                WriteElement(ref writer, entry.Value, depth, entry.Key);
            }
        }
        finally
        {
            (e as IDisposable)?.Dispose();
        }
    }

    private static void WriteTuple(ref MessagePackWriter writer, ITuple tuple, int depth)
    {
        int n = tuple.Length;
        EnterContainer(depth, n);
        writer.WriteArrayHeader(n);
        for (int i = 0; i < n; i++)
        {
            WriteElement(ref writer, tuple[i], depth, i);
        }
    }

    private static void WriteSequence(ref MessagePackWriter writer, IEnumerable sequence, int depth)
    {
        if (sequence is IList list)
        {
            EnterContainer(depth, list.Count);
            writer.WriteArrayHeader(list.Count);
            for (int i = 0; i < list.Count; i++)
            {
                WriteElement(ref writer, list[i], depth, i);
            }
            return;
        }
        var items = new List<object?>();
        foreach (var item in sequence)
        {
            items.Add(item);
        }
        EnterContainer(depth, items.Count);
        writer.WriteArrayHeader(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            WriteElement(ref writer, items[i], depth, i);
        }
    }

    private static void WriteElement(ref MessagePackWriter writer, object? item, int depth, object? position)
    {
        try
        {
            WriteValue(ref writer, item, depth - 1);
        }
        catch (ValueConversionException e) when (e.TargetType is not null || e.Path.Length > 0)
        {
            throw e.Within(PathStep(position));
        }
    }

    /// <summary>Checks the depth before a container's children are visited (same rule as Python's check_depth).</summary>
    internal static void EnterContainer(int depth, int count)
    {
        if (depth <= 0 || (depth <= 1 && count > 0))
        {
            throw TooDeep();
        }
    }

    /// <summary>The position of a map key itself (its path step is <c>[&lt;key&gt;]</c>).</summary>
    internal static readonly object KeyStep = new();

    internal static string PathStep(object? position) => position switch
    {
        int i => $"[{i}]",
        string s => $"[\"{s}\"]",
        null => "[nil]",
        _ when ReferenceEquals(position, KeyStep) => "[<key>]",
        _ => $"[{position}]",
    };
}
