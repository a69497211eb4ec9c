using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Bridge.Values;

/// <summary>
/// The ext 2 array format of PROTOCOL.md: <c>[dtype:1 byte][little-endian elements]</c>.
/// Codes: 1 bool, 2 int8, 3 uint8, 4 int16, 5 uint16, 6 int32, 7 uint32, 8 int64, 9 uint64,
/// 10 float32, 11 float64.
/// </summary>
internal static class DType
{
    public const byte Bool = 1, Int8 = 2, UInt8 = 3, Int16 = 4, UInt16 = 5, Int32 = 6, UInt32 = 7,
        Int64 = 8, UInt64 = 9, Float32 = 10, Float64 = 11;

    /// <summary>The dtype code of a .NET element type, or 0 when it has none.</summary>
    public static byte CodeOf(Type element) =>
        element == typeof(double) ? Float64 :
        element == typeof(long) ? Int64 :
        element == typeof(int) ? Int32 :
        element == typeof(float) ? Float32 :
        element == typeof(bool) ? Bool :
        element == typeof(byte) ? UInt8 :
        element == typeof(sbyte) ? Int8 :
        element == typeof(short) ? Int16 :
        element == typeof(ushort) ? UInt16 :
        element == typeof(uint) ? UInt32 :
        element == typeof(ulong) ? UInt64 : (byte)0;

    /// <summary>The dtype code of an exact one-dimensional array type (<c>int[]</c>, not a covariant look-alike), or 0.</summary>
    public static byte CodeOfArray(Type arrayType) =>
        arrayType.IsSZArray ? CodeOf(arrayType.GetElementType()!) : (byte)0;

    public static Type? ElementType(byte code) => code switch
    {
        Bool => typeof(bool),
        Int8 => typeof(sbyte),
        UInt8 => typeof(byte),
        Int16 => typeof(short),
        UInt16 => typeof(ushort),
        Int32 => typeof(int),
        UInt32 => typeof(uint),
        Int64 => typeof(long),
        UInt64 => typeof(ulong),
        Float32 => typeof(float),
        Float64 => typeof(double),
        _ => null,
    };

    public static int Size(byte code) => code switch
    {
        Bool or Int8 or UInt8 => 1,
        Int16 or UInt16 => 2,
        Int32 or UInt32 or Float32 => 4,
        Int64 or UInt64 or Float64 => 8,
        _ => 0,
    };

    /// <summary>numpy's name of a dtype code (for messages).</summary>
    public static string Name(byte code) => code switch
    {
        Bool => "bool",
        Int8 => "int8",
        UInt8 => "uint8",
        Int16 => "int16",
        UInt16 => "uint16",
        Int32 => "int32",
        UInt32 => "uint32",
        Int64 => "int64",
        UInt64 => "uint64",
        Float32 => "float32",
        Float64 => "float64",
        _ => $"unknown dtype {code}",
    };

    /// <summary>Decodes an ext 2 body (code byte included) into a new array of its natural element type.</summary>
    /// <exception cref="ValueConversionException">Unknown code or a length that is not a multiple of the element size.</exception>
    public static Array Decode(in ReadOnlySequence<byte> ext)
    {
        var (code, count) = Check(ext);
        var data = ext.Slice(1);
        return code switch
        {
            Bool => DecodeBools(data, count),
            Int8 => Fill(new sbyte[count], data),
            UInt8 => Fill(new byte[count], data),
            Int16 => Fill(new short[count], data),
            UInt16 => Fill(new ushort[count], data),
            Int32 => Fill(new int[count], data),
            UInt32 => Fill(new uint[count], data),
            Int64 => Fill(new long[count], data),
            UInt64 => Fill(new ulong[count], data),
            Float32 => Fill(new float[count], data),
            _ => Fill(new double[count], data),
        };
    }

    /// <summary>The dtype code and element count of an ext 2 body.</summary>
    /// <exception cref="ValueConversionException">Empty body, unknown code, or a ragged length.</exception>
    public static (byte Code, int Count) Check(in ReadOnlySequence<byte> ext)
    {
        if (ext.Length == 0)
        {
            throw new ValueConversionException("empty ext 2 (array) value", "ext 2", null, "");
        }
        byte code = ext.FirstSpan[0];
        int size = Size(code);
        if (size == 0)
        {
            throw new ValueConversionException($"unknown ext 2 dtype code {code}", "ext 2", null, "");
        }
        long bytes = ext.Length - 1;
        if (bytes % size != 0)
        {
            throw new ValueConversionException(
                $"ext 2 ({Name(code)} array) of {bytes} bytes is not a whole number of {size}-byte elements", "ext 2", null, "");
        }
        return (code, checked((int)(bytes / size)));
    }

    /// <summary>Copies little-endian element bytes into <paramref name="target"/>.</summary>
    public static T[] Fill<T>(T[] target, in ReadOnlySequence<byte> data)
        where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(target.AsSpan());
        data.CopyTo(bytes);
        if (!BitConverter.IsLittleEndian && Unsafe.SizeOf<T>() > 1)
        {
            ReverseEach(bytes, Unsafe.SizeOf<T>());
        }
        return target;
    }

    private static bool[] DecodeBools(in ReadOnlySequence<byte> data, int count)
    {
        var result = new bool[count];
        int i = 0;
        foreach (var segment in data)
        {
            foreach (byte b in segment.Span)
            {
                result[i++] = b != 0;
            }
        }
        return result;
    }

    /// <summary>Writes an ext 2 value for the elements of <paramref name="elements"/> (already little-endian bytes on this machine).</summary>
    public static void Write(ref MessagePack.MessagePackWriter writer, byte code, ReadOnlySpan<byte> elements)
    {
        writer.WriteExtensionFormatHeader(new MessagePack.ExtensionHeader(MsgPackValues.ArrayExtType, checked((uint)elements.Length + 1)));
        var span = writer.GetSpan(1);
        span[0] = code;
        writer.Advance(1);
        if (BitConverter.IsLittleEndian || Size(code) == 1)
        {
            writer.WriteRaw(elements);
        }
        else
        {
            var copy = elements.ToArray();
            ReverseEach(copy, Size(code));
            writer.WriteRaw(copy);
        }
    }

    private static void ReverseEach(Span<byte> bytes, int size)
    {
        for (int i = 0; i + size <= bytes.Length; i += size)
        {
            bytes.Slice(i, size).Reverse();
        }
    }
}
