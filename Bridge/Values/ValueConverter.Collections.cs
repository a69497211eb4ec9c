using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Reflection;
using MessagePack;

namespace Bridge.Values;

#pragma warning disable SA1402 // small converter classes live together

/// <summary><c>T[]</c> (and <c>IEnumerable&lt;T&gt;</c>, <c>IReadOnlyList&lt;T&gt;</c>): a msgpack array, an ext 2 array, or (for <c>byte[]</c>) a bin.</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class ArrayConverter<T> : ValueConverter<T[]?>
{
    private readonly ValueConverter<T> _element = ValueConverter<T>.Instance;

    public ArrayConverter(Type display)
        : base(display)
    {
    }

    public override T[]? Read(ref MessagePackReader reader, int depth)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return null;
            case MessagePackType.Array:
                int count = reader.ReadArrayHeader();
                MsgPackValues.EnterContainer(depth, count);
                if (count == 0)
                {
                    return [];
                }
                var result = new T[count];
                for (int i = 0; i < result.Length; i++)
                {
                    try
                    {
                        result[i] = _element.Read(ref reader, depth - 1);
                    }
                    catch (ValueConversionException e) when (e.TargetType is not null)
                    {
                        throw e.Within($"[{i}]");
                    }
                }
                return result;
            case MessagePackType.Binary when typeof(T) == typeof(byte):
                return (T[])(object)reader.ReadBytes()!.Value.ToArray();
            case MessagePackType.Extension:
                var start = reader;
                var header = reader.ReadExtensionFormatHeader();
                if (header.TypeCode == ShmArrayRef.ExtType)
                {
                    // shm hook: an array parameter gets a copy of a shared-memory array (Span/Memory map it in place)
                    var body = reader.ReadRaw(header.Length);
                    var copied = ShmArrayRef.Parse(body.IsSingleSegment ? body.FirstSpan : body.ToArray()).ToArray();
                    return copied is T[] copiedSame && copied.GetType() == typeof(T[]) ? copiedSame : ConvertElements(copied, start);
                }
                if (header.TypeCode != MsgPackValues.ArrayExtType)
                {
                    throw Mismatch(start);
                }
                var natural = DType.Decode(reader.ReadRaw(header.Length));
                if (natural is T[] same && natural.GetType() == typeof(T[]))
                {
                    return same;
                }
                return ConvertElements(natural, start);
            default:
                throw Mismatch(reader);
        }
    }

    /// <summary>An ext 2 array of another element type: element by element, range-checked.</summary>
    private T[] ConvertElements(Array natural, in MessagePackReader start)
    {
        var result = new T[natural.Length];
        var target = typeof(T);
        for (int i = 0; i < result.Length; i++)
        {
            var item = natural.GetValue(i)!;
            if (target == typeof(object))
            {
                result[i] = (T)item;
                continue;
            }
            if (!ScalarConversion.TryConvert(item, target, out var converted, out var why))
            {
                var found = MsgPackValues.DescribeNext(start);
                throw new ValueConversionException(
                    $"cannot convert {found} to {MsgPackValues.DescribeType(Type)} (element {item}: {why})", found, Type, "");
            }
            result[i] = (T)converted!;
        }
        return result;
    }
}

/// <summary>Conversion of one boxed primitive (an ext 2 element) to another primitive type.</summary>
internal static class ScalarConversion
{
    public static bool TryConvert(object value, Type target, out object? result, out string why)
    {
        why = "";
        result = null;
        var code = Type.GetTypeCode(target);
        if (value is bool b)
        {
            if (code == TypeCode.Boolean)
            {
                result = b;
                return true;
            }
            why = $"bool does not convert to {target.Name}";
            return false;
        }
        if (code is TypeCode.Single or TypeCode.Double)
        {
            double d = Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture);
            result = code == TypeCode.Double ? d : (object)(float)d;
            return true;
        }
        if (code is >= TypeCode.SByte and <= TypeCode.UInt64 || target == typeof(BigInteger))
        {
            if (value is float or double)
            {
                why = $"a float does not convert to {target.Name}";
                return false;
            }
            Int128 v = value is ulong u ? u : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
            if (target == typeof(BigInteger))
            {
                result = (BigInteger)v;
                return true;
            }
            var (min, max) = code switch
            {
                TypeCode.SByte => ((Int128)sbyte.MinValue, (Int128)sbyte.MaxValue),
                TypeCode.Byte => (byte.MinValue, byte.MaxValue),
                TypeCode.Int16 => (short.MinValue, short.MaxValue),
                TypeCode.UInt16 => (ushort.MinValue, ushort.MaxValue),
                TypeCode.Int32 => (int.MinValue, int.MaxValue),
                TypeCode.UInt32 => (uint.MinValue, uint.MaxValue),
                TypeCode.Int64 => (long.MinValue, long.MaxValue),
                _ => ((Int128)ulong.MinValue, (Int128)ulong.MaxValue),
            };
            if (v < min || v > max)
            {
                why = $"outside [{min}, {max}]";
                return false;
            }
            result = Convert.ChangeType(value is ulong uu ? uu : (object)(long)v, target, System.Globalization.CultureInfo.InvariantCulture);
            return true;
        }
        why = $"a number does not convert to {MsgPackValues.DescribeType(target)}";
        return false;
    }
}

/// <summary><c>List&lt;T&gt;</c>, <c>IList&lt;T&gt;</c>, <c>ICollection&lt;T&gt;</c>.</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class ListConverter<T> : ValueConverter<List<T>?>
{
    private readonly ArrayConverter<T> _array;

    public ListConverter(Type display)
        : base(display)
    {
        _array = new ArrayConverter<T>(display);
    }

    public override List<T>? Read(ref MessagePackReader reader, int depth)
    {
        var array = _array.Read(ref reader, depth);
        return array is null ? null : new List<T>(array);
    }
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class MemoryConverter<T> : ValueConverter<Memory<T>>
{
    private readonly ArrayConverter<T> _array = new(typeof(Memory<T>));

    public override Memory<T> Read(ref MessagePackReader reader, int depth) =>
        ShmArrayRef.TryRead(ref reader, out var shm) ? (Memory<T>)shm!.MapMemoryBoxed(typeof(T)) : _array.Read(ref reader, depth); // shm hook: ext 3 maps in place
}

[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class ReadOnlyMemoryConverter<T> : ValueConverter<ReadOnlyMemory<T>>
{
    private readonly ArrayConverter<T> _array = new(typeof(ReadOnlyMemory<T>));

    public override ReadOnlyMemory<T> Read(ref MessagePackReader reader, int depth) =>
        ShmArrayRef.TryRead(ref reader, out var shm) ? (Memory<T>)shm!.MapMemoryBoxed(typeof(T)) : _array.Read(ref reader, depth); // shm hook: ext 3 maps in place
}

/// <summary><c>Dictionary&lt;K,V&gt;</c>, <c>IDictionary&lt;K,V&gt;</c>, <c>IReadOnlyDictionary&lt;K,V&gt;</c>: a map.</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class DictionaryConverter<TKey, TValue> : ValueConverter<Dictionary<TKey, TValue>?>
    where TKey : notnull
{
    private readonly ValueConverter<TKey> _key = ValueConverter<TKey>.Instance;
    private readonly ValueConverter<TValue> _value = ValueConverter<TValue>.Instance;

    public DictionaryConverter(Type display)
        : base(display)
    {
    }

    public override Dictionary<TKey, TValue>? Read(ref MessagePackReader reader, int depth)
    {
        if (reader.TryReadNil())
        {
            return null;
        }
        if (reader.NextMessagePackType != MessagePackType.Map)
        {
            throw Mismatch(reader);
        }
        int count = reader.ReadMapHeader();
        MsgPackValues.EnterContainer(depth, count);
        var result = new Dictionary<TKey, TValue>(count);
        for (int i = 0; i < count; i++)
        {
            TKey key;
            try
            {
                key = _key.Read(ref reader, depth - 1);
            }
            catch (ValueConversionException e) when (e.TargetType is not null)
            {
                throw e.Within("[<key>]");
            }
            if (key is null)
            {
                throw new ValueConversionException($"cannot convert nil to {MsgPackValues.DescribeType(typeof(TKey))} (a map key)", "nil", typeof(TKey), "[<key>]");
            }
            try
            {
                result[key] = _value.Read(ref reader, depth - 1);
            }
            catch (ValueConversionException e) when (e.TargetType is not null)
            {
                throw e.Within(MsgPackValues.PathStep(key));
            }
        }
        return result;
    }
}

/// <summary><c>ValueTuple&lt;…&gt;</c> and <c>Tuple&lt;…&gt;</c>: an array with one element per position (a TRest tuple is flattened).</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal sealed class TupleConverter : ValueConverter
{
    private readonly ValueConverter[] _elements;

    public TupleConverter(Type type)
        : base(type)
    {
        var types = new List<Type>();
        Flatten(type, types);
        _elements = types.Select(For).ToArray();
    }

    public static bool IsTuple(Type type)
    {
        if (!type.IsGenericType)
        {
            return false;
        }
        var ns = type.Namespace;
        var name = type.Name;
        return ns == "System" && (name.StartsWith("ValueTuple`", StringComparison.Ordinal) || name.StartsWith("Tuple`", StringComparison.Ordinal));
    }

    public override object? ReadBoxed(ref MessagePackReader reader, int depth)
    {
        if (!Type.IsValueType && reader.TryReadNil())
        {
            return null;
        }
        if (reader.NextMessagePackType != MessagePackType.Array)
        {
            throw Mismatch(reader);
        }
        var start = reader;
        int count = reader.ReadArrayHeader();
        if (count != _elements.Length)
        {
            throw Mismatch(start, $" (an array of {count} elements for a tuple of {_elements.Length})");
        }
        MsgPackValues.EnterContainer(depth, count);
        var values = new object?[count];
        for (int i = 0; i < count; i++)
        {
            try
            {
                values[i] = _elements[i].ReadBoxed(ref reader, depth - 1);
            }
            catch (ValueConversionException e) when (e.TargetType is not null)
            {
                throw e.Within($"[{i}]");
            }
        }
        int offset = 0;
        return Construct(Type, values, ref offset);
    }

    private static void Flatten(Type type, List<Type> into)
    {
        var args = type.GetGenericArguments();
        if (args.Length == 8)
        {
            into.AddRange(args.Take(7));
            Flatten(args[7], into);
        }
        else
        {
            into.AddRange(args);
        }
    }

    private static object Construct(Type type, object?[] values, ref int offset)
    {
        var args = type.GetGenericArguments();
        var ctorArgs = new object?[args.Length];
        int direct = args.Length == 8 ? 7 : args.Length;
        for (int i = 0; i < direct; i++)
        {
            ctorArgs[i] = values[offset++];
        }
        if (args.Length == 8)
        {
            ctorArgs[7] = Construct(args[7], values, ref offset);
        }
        var ctor = type.GetConstructor(BindingFlags.Public | BindingFlags.Instance, args)
            ?? throw new InvalidOperationException($"{type} has no element-wise constructor");
        return ctor.Invoke(ctorArgs);
    }
}
