using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using MessagePack;

namespace Bridge.Values;

#pragma warning disable SA1402 // small converter classes live together

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class ObjectConverter : ValueConverter<object?>
{
    public override object? Read(ref MessagePackReader reader, int depth) => MsgPackValues.ReadObjectCore(ref reader, depth);
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class BoolConverter : ValueConverter<bool>
{
    public override bool Read(ref MessagePackReader reader, int depth)
    {
        if (reader.NextMessagePackType != MessagePackType.Boolean)
        {
            throw Mismatch(reader);
        }
        return reader.ReadBoolean();
    }
}

/// <summary>Any integer type: msgpack int or ext 1, range-checked.</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class IntegerConverter<T> : ValueConverter<T>
    where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
{
    private static readonly Int128 s_min = Int128.CreateTruncating(T.MinValue);
    private static readonly Int128 s_max = Int128.CreateTruncating(T.MaxValue);

    public override T Read(ref MessagePackReader reader, int depth)
    {
        var type = reader.NextMessagePackType;
        if (type == MessagePackType.Integer)
        {
            if (reader.NextCode == MessagePackCode.UInt64)
            {
                var start = reader;
                ulong u = reader.ReadUInt64();
                if ((Int128)u > s_max)
                {
                    throw OutOfRange(start, u.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                return T.CreateTruncating(u);
            }
            else
            {
                var start = reader;
                long v = reader.ReadInt64();
                if (v < s_min || v > s_max)
                {
                    throw OutOfRange(start, v.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                return T.CreateTruncating(v);
            }
        }
        if (type == MessagePackType.Extension)
        {
            var start = reader;
            var header = reader.ReadExtensionFormatHeader();
            if (header.TypeCode == MsgPackValues.BigIntegerExtType)
            {
                var big = MsgPackValues.DecodeBigInteger(reader.ReadRaw(header.Length));
                if (big < s_min || big > s_max)
                {
                    throw OutOfRange(start, big.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                return T.CreateTruncating((Int128)big);
            }
            throw Mismatch(start);
        }
        throw Mismatch(reader);
    }

    private ValueConversionException OutOfRange(in MessagePackReader start, string value)
    {
        var found = MsgPackValues.DescribeNext(start);
        return new ValueConversionException(
            $"cannot convert {found} {value} to {MsgPackValues.DescribeType(Type)}: out of range", found, Type, "");
    }
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class DoubleConverter : ValueConverter<double>
{
    public override double Read(ref MessagePackReader reader, int depth)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Float:
                return reader.ReadDouble();
            case MessagePackType.Integer:
                return reader.NextCode == MessagePackCode.UInt64 ? reader.ReadUInt64() : reader.ReadInt64();
            case MessagePackType.Extension:
                var start = reader;
                var header = reader.ReadExtensionFormatHeader();
                if (header.TypeCode == MsgPackValues.BigIntegerExtType)
                {
                    return (double)MsgPackValues.DecodeBigInteger(reader.ReadRaw(header.Length));
                }
                throw Mismatch(start);
            default:
                throw Mismatch(reader);
        }
    }
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class SingleConverter : ValueConverter<float>
{
    public override float Read(ref MessagePackReader reader, int depth)
    {
        if (reader.NextMessagePackType is MessagePackType.Float or MessagePackType.Integer or MessagePackType.Extension)
        {
            var start = reader;
            try
            {
                return (float)DoubleRead(ref reader);
            }
            catch (ValueConversionException)
            {
                throw Mismatch(start);
            }
        }
        throw Mismatch(reader);
    }

    private static double DoubleRead(ref MessagePackReader reader) => ValueConverter<double>.Instance.Read(ref reader, 1);
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class StringConverter : ValueConverter<string?>
{
    public override string? Read(ref MessagePackReader reader, int depth)
    {
        var type = reader.NextMessagePackType;
        if (type == MessagePackType.String || type == MessagePackType.Nil)
        {
            return reader.ReadString();
        }
        throw Mismatch(reader);
    }
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class CharConverter : ValueConverter<char>
{
    public override char Read(ref MessagePackReader reader, int depth)
    {
        if (reader.NextMessagePackType == MessagePackType.String)
        {
            var start = reader;
            var s = reader.ReadString()!;
            if (s.Length != 1)
            {
                throw Mismatch(start, $" (a string of length {s.Length}, not 1)");
            }
            return s[0];
        }
        throw Mismatch(reader);
    }
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class BigIntegerConverter : ValueConverter<BigInteger>
{
    public override BigInteger Read(ref MessagePackReader reader, int depth)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Integer:
                return reader.NextCode == MessagePackCode.UInt64 ? reader.ReadUInt64() : reader.ReadInt64();
            case MessagePackType.Extension:
                var start = reader;
                var header = reader.ReadExtensionFormatHeader();
                if (header.TypeCode == MsgPackValues.BigIntegerExtType)
                {
                    return MsgPackValues.DecodeBigInteger(reader.ReadRaw(header.Length));
                }
                throw Mismatch(start);
            default:
                throw Mismatch(reader);
        }
    }
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class NullableConverter<T> : ValueConverter<T?>
    where T : struct
{
    private readonly ValueConverter<T> _inner = ValueConverter<T>.Instance;

    public override T? Read(ref MessagePackReader reader, int depth)
    {
        if (reader.TryReadNil())
        {
            return null;
        }
        return _inner.Read(ref reader, depth);
    }
}

/// <summary>An enum: its integer value (range-checked against the underlying type) or a member name.</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class EnumConverter<T> : ValueConverter<T>
    where T : struct, Enum
{
    private readonly ValueConverter _underlying = For(Enum.GetUnderlyingType(typeof(T)));

    public override T Read(ref MessagePackReader reader, int depth)
    {
        var type = reader.NextMessagePackType;
        if (type == MessagePackType.String)
        {
            var start = reader;
            var name = reader.ReadString()!;
            if (name.Length > 0 && !char.IsAsciiDigit(name[0]) && name[0] != '-' && Enum.TryParse<T>(name, ignoreCase: false, out var parsed))
            {
                return parsed;
            }
            throw Mismatch(start, $" (no member named '{name}')");
        }
        if (type is MessagePackType.Integer or MessagePackType.Extension)
        {
            var start = reader;
            try
            {
                return (T)Enum.ToObject(typeof(T), _underlying.ReadBoxed(ref reader, depth)!);
            }
            catch (ValueConversionException e)
            {
                throw Mismatch(start, $" ({e.Message})");
            }
        }
        throw Mismatch(reader);
    }
}

/// <summary>Any other type: the untyped graph, if it is an instance of the type.</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class FallbackConverter(Type type) : ValueConverter(type)
{
    public override object? ReadBoxed(ref MessagePackReader reader, int depth)
    {
        var start = reader;
        var value = MsgPackValues.ReadObjectCore(ref reader, depth);
        if (value is null ? !Type.IsValueType : Type.IsInstanceOfType(value))
        {
            return value;
        }
        throw Mismatch(start);
    }
}
