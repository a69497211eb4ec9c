using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Bridge.Values;
using MessagePack;

namespace Bridge;

/// <summary>
/// The MessagePack ↔ .NET value codec of Bridge/PROTOCOL.md "Values": what travels as the
/// arguments and results of MSGPACK (encoding 1) tasks.
/// </summary>
/// <remarks>
/// <para>Writing (<see cref="Write"/>) and untyped reading (<see cref="ReadObject"/>) use no
/// reflection and are safe under Native AOT. Typed reading (<see cref="Read(ref MessagePackReader, Type, int)"/>)
/// builds a converter per target type with reflection (cached) and is meant for JIT processes
/// (the .NET worker, C# callers converting results).</para>
/// <para>Untyped graphs: nil → <c>null</c>, bool → <see cref="bool"/>, int → <see cref="long"/>
/// (<see cref="ulong"/> above <see cref="long.MaxValue"/>), ext 1 → <see cref="System.Numerics.BigInteger"/>,
/// float → <see cref="double"/>, str → <see cref="string"/>, bin → <c>byte[]</c>, array → <c>object?[]</c>,
/// map → <c>Dictionary&lt;object, object?&gt;</c>, ext 2 → a primitive array (<c>double[]</c>, <c>int[]</c>, …).</para>
/// <para>All members are thread-safe.</para>
/// </remarks>
public static partial class MsgPackValues
{
    /// <summary>The default nesting limit of values (PROTOCOL.md: 64).</summary>
    public const int DefaultMaxDepth = 64;

    /// <summary>The ext type of integers beyond 64 bits (two's complement, big-endian).</summary>
    public const sbyte BigIntegerExtType = 1;

    /// <summary>The ext type of 1-D primitive arrays (<c>[dtype][little-endian elements]</c>).</summary>
    public const sbyte ArrayExtType = 2;

    /// <summary>Encodes <paramref name="value"/> alone into a new byte array.</summary>
    /// <exception cref="ValueConversionException">The value (or something inside it) has no MessagePack form, or nests too deep.</exception>
    public static byte[] Serialize(object? value, int maxDepth = DefaultMaxDepth)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        Write(ref writer, value, maxDepth);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes one MessagePack value (the whole of <paramref name="data"/>) as an untyped graph.</summary>
    /// <exception cref="ValueConversionException">An unsupported ext type, a bad ext 2 body, a nil map key, too deep, or trailing bytes.</exception>
    /// <exception cref="MessagePackSerializationException">The data is not well-formed MessagePack.</exception>
    /// <exception cref="EndOfStreamException">The data ends inside the value.</exception>
    public static object? DeserializeObject(ReadOnlyMemory<byte> data, int maxDepth = DefaultMaxDepth)
    {
        var reader = new MessagePackReader(data);
        var value = ReadObject(ref reader, maxDepth);
        CheckEnd(ref reader);
        return value;
    }

    /// <summary>Decodes one MessagePack value (the whole of <paramref name="data"/>) converted to <paramref name="type"/>.</summary>
    /// <exception cref="ValueConversionException">The value does not convert to <paramref name="type"/>, or trailing bytes.</exception>
    /// <exception cref="MessagePackSerializationException">The data is not well-formed MessagePack.</exception>
    /// <exception cref="EndOfStreamException">The data ends inside the value.</exception>
    [RequiresDynamicCode("Builds converters for generic types at run time.")]
    [RequiresUnreferencedCode("Reflects over the target type.")]
    public static object? Deserialize(ReadOnlyMemory<byte> data, Type type, int maxDepth = DefaultMaxDepth)
    {
        var reader = new MessagePackReader(data);
        var value = Read(ref reader, type, maxDepth);
        CheckEnd(ref reader);
        return value;
    }

    /// <summary>Decodes one MessagePack value (the whole of <paramref name="data"/>) converted to <typeparamref name="T"/>.</summary>
    /// <exception cref="ValueConversionException">The value does not convert to <typeparamref name="T"/>, or trailing bytes.</exception>
    /// <exception cref="MessagePackSerializationException">The data is not well-formed MessagePack.</exception>
    /// <exception cref="EndOfStreamException">The data ends inside the value.</exception>
    [RequiresDynamicCode("Builds converters for generic types at run time.")]
    [RequiresUnreferencedCode("Reflects over the target type.")]
    public static T Deserialize<T>(ReadOnlyMemory<byte> data, int maxDepth = DefaultMaxDepth)
    {
        var reader = new MessagePackReader(data);
        var value = Read<T>(ref reader, maxDepth);
        CheckEnd(ref reader);
        return value;
    }

    /// <summary>Reads the next value converted to <paramref name="type"/>.</summary>
    /// <remarks>
    /// Integers are range-checked; an int (or an ext 1 that fits) is accepted where a float is wanted;
    /// an array parameter accepts both a MessagePack array and an ext 2 array; <c>object</c> gets the
    /// untyped graph of <see cref="ReadObject"/>.
    /// </remarks>
    /// <exception cref="ValueConversionException">The value does not convert; the message names the MessagePack type found and the .NET type wanted.</exception>
    /// <exception cref="MessagePackSerializationException">The data is not well-formed MessagePack.</exception>
    /// <exception cref="EndOfStreamException">The data ends inside the value.</exception>
    [RequiresDynamicCode("Builds converters for generic types at run time.")]
    [RequiresUnreferencedCode("Reflects over the target type.")]
    public static object? Read(ref MessagePackReader reader, Type type, int maxDepth = DefaultMaxDepth)
    {
        ArgumentNullException.ThrowIfNull(type);
        return ValueConverter.For(type).ReadBoxed(ref reader, maxDepth);
    }

    /// <summary>Reads the next value converted to <typeparamref name="T"/> (see <see cref="Read(ref MessagePackReader, Type, int)"/>).</summary>
    /// <exception cref="ValueConversionException">The value does not convert.</exception>
    /// <exception cref="MessagePackSerializationException">The data is not well-formed MessagePack.</exception>
    /// <exception cref="EndOfStreamException">The data ends inside the value.</exception>
    [RequiresDynamicCode("Builds converters for generic types at run time.")]
    [RequiresUnreferencedCode("Reflects over the target type.")]
    public static T Read<T>(ref MessagePackReader reader, int maxDepth = DefaultMaxDepth)
    {
        var converter = ValueConverter.For(typeof(T));
        if (converter is ValueConverter<T> typed)
        {
            return typed.Read(ref reader, maxDepth);
        }
        return (T)converter.ReadBoxed(ref reader, maxDepth)!;
    }

    /// <summary>
    /// A short readable name of a .NET type for messages: <c>Int64</c>, <c>Double[]</c>,
    /// <c>List&lt;String&gt;</c>, <c>Int32?</c>, <c>ValueTuple&lt;Int64, String&gt;</c>.
    /// </summary>
    public static string DescribeType(Type type)
    {
        if (type.IsArray)
        {
            return DescribeType(type.GetElementType()!) + (type.IsSZArray ? "[]" : $"[{new string(',', type.GetArrayRank() - 1)}]");
        }
        if (type.IsByRef)
        {
            return DescribeType(type.GetElementType()!) + "&";
        }
        if (!type.IsGenericType)
        {
            return type.Name;
        }
        var args = type.GetGenericArguments();
        if (type.GetGenericTypeDefinition() == typeof(Nullable<>))
        {
            return DescribeType(args[0]) + "?";
        }
        var name = type.Name;
        int tick = name.IndexOf('`');
        if (tick >= 0)
        {
            name = name[..tick];
        }
        var sb = new StringBuilder(name).Append('<');
        for (int i = 0; i < args.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }
            sb.Append(args[i].IsGenericParameter ? args[i].Name : DescribeType(args[i]));
        }
        return sb.Append('>').ToString();
    }

    /// <summary>
    /// The name of the next MessagePack value's type, as used in messages: <c>nil</c>, <c>bool</c>,
    /// <c>int</c>, <c>float</c>, <c>str</c>, <c>bin</c>, <c>array</c>, <c>map</c>,
    /// <c>ext 1 (big int)</c>, <c>ext 2 (float64 array)</c>, <c>ext N</c>. Does not move the reader.
    /// </summary>
    public static string DescribeNext(in MessagePackReader reader)
    {
        var peek = reader.CreatePeekReader();
        if (peek.End)
        {
            return "end of data";
        }
        switch (peek.NextMessagePackType)
        {
            case MessagePackType.Nil: return "nil";
            case MessagePackType.Boolean: return "bool";
            case MessagePackType.Integer: return "int";
            case MessagePackType.Float: return "float";
            case MessagePackType.String: return "str";
            case MessagePackType.Binary: return "bin";
            case MessagePackType.Array: return "array";
            case MessagePackType.Map: return "map";
            case MessagePackType.Extension:
                if (!peek.TryReadExtensionFormatHeader(out var header))
                {
                    return "ext";
                }
                if (header.TypeCode == BigIntegerExtType)
                {
                    return "ext 1 (big int)";
                }
                if (header.TypeCode == ArrayExtType)
                {
                    if (header.Length == 0 || peek.End)
                    {
                        return "ext 2 (array)";
                    }
                    var first = peek.ReadRaw(1);
                    return $"ext 2 ({DType.Name(first.FirstSpan[0])} array)";
                }
                return $"ext {header.TypeCode}";
            default:
                return $"invalid code 0x{peek.NextCode:x2}";
        }
    }

    private static void CheckEnd(ref MessagePackReader reader)
    {
        if (!reader.End)
        {
            throw new ValueConversionException(
                $"trailing bytes after the value ({reader.Sequence.Length - reader.Consumed} left)", null, null, "");
        }
    }

    internal static ValueConversionException TooDeep() =>
        new("value nests deeper than the depth limit (max_depth, default 64)", null, null, "");
}
