using System.Buffers;
using System.Numerics;
using Bridge.Values;
using MessagePack;

namespace Bridge;

public static partial class MsgPackValues
{
    /// <summary>Reads the next value as an untyped graph (see the class remarks for the .NET types).</summary>
    /// <remarks>Uses no reflection (safe under Native AOT).</remarks>
    /// <exception cref="ValueConversionException">An unsupported ext type, a bad ext 1/ext 2 body, a nil map key, or nesting deeper than <paramref name="maxDepth"/>.</exception>
    /// <exception cref="MessagePackSerializationException">The data is not well-formed MessagePack.</exception>
    /// <exception cref="EndOfStreamException">The data ends inside the value.</exception>
    public static object? ReadObject(ref MessagePackReader reader, int maxDepth = DefaultMaxDepth)
    {
        return ReadObjectCore(ref reader, maxDepth);
    }

    internal static object? ReadObjectCore(ref MessagePackReader reader, int depth)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return null;
            case MessagePackType.Boolean:
                return reader.ReadBoolean();
            case MessagePackType.Integer:
                if (reader.NextCode == MessagePackCode.UInt64)
                {
                    ulong u = reader.ReadUInt64();
                    return u <= long.MaxValue ? (long)u : u;
                }
                return reader.ReadInt64();
            case MessagePackType.Float:
                return reader.ReadDouble();
            case MessagePackType.String:
                return reader.ReadString();
            case MessagePackType.Binary:
                return reader.ReadBytes()!.Value.ToArray();
            case MessagePackType.Array:
                return ReadObjectArray(ref reader, depth);
            case MessagePackType.Map:
                return ReadObjectMap(ref reader, depth);
            case MessagePackType.Extension:
                return ReadObjectExt(ref reader);
            default:
                throw new MessagePackSerializationException($"invalid MessagePack code 0x{reader.NextCode:x2}");
        }
    }

    private static object?[] ReadObjectArray(ref MessagePackReader reader, int depth)
    {
        int count = reader.ReadArrayHeader();
        EnterContainer(depth, count);
        var result = count == 0 ? [] : new object?[count];
        for (int i = 0; i < count; i++)
        {
            result[i] = ReadObjectCore(ref reader, depth - 1);
        }
        return result;
    }

    private static Dictionary<object, object?> ReadObjectMap(ref MessagePackReader reader, int depth)
    {
        int count = reader.ReadMapHeader();
        EnterContainer(depth, count);
        var result = new Dictionary<object, object?>(count);
        for (int i = 0; i < count; i++)
        {
            var key = ReadObjectCore(ref reader, depth - 1)
                ?? throw new ValueConversionException("a map key is nil (not allowed in a .NET dictionary)", "nil", typeof(object), "");
            result[key] = ReadObjectCore(ref reader, depth - 1);
        }
        return result;
    }

    private static object ReadObjectExt(ref MessagePackReader reader)
    {
        var header = reader.ReadExtensionFormatHeader();
        var data = reader.ReadRaw(header.Length);
        switch (header.TypeCode)
        {
            case BigIntegerExtType:
                return DecodeBigInteger(data);
            case ArrayExtType:
                return DType.Decode(data);
            case ShmArrayRef.ExtType: // shm hook: a shared-memory array reference, copied out for an untyped value
                return ShmArrayRef.Parse(data.IsSingleSegment ? data.FirstSpan : data.ToArray()).ToArray();
            default:
                throw new ValueConversionException($"cannot convert ext {header.TypeCode} to Object (unsupported ext type)",
                    $"ext {header.TypeCode}", typeof(object), "");
        }
    }

    /// <summary>Decodes an ext 1 body (two's complement, big-endian).</summary>
    internal static BigInteger DecodeBigInteger(in System.Buffers.ReadOnlySequence<byte> data)
    {
        if (data.Length == 0)
        {
            throw new ValueConversionException("empty ext 1 (big int) value", "ext 1 (big int)", typeof(BigInteger), "");
        }
        if (data.IsSingleSegment)
        {
            return new BigInteger(data.FirstSpan, isUnsigned: false, isBigEndian: true);
        }
        return new BigInteger(System.Buffers.BuffersExtensions.ToArray(data), isUnsigned: false, isBigEndian: true);
    }
}
