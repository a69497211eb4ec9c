using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using MessagePack;

namespace Bridge.Values;

/// <summary>
/// Reads a MessagePack value converted to one .NET type. One converter per target type, built
/// with reflection on first use and cached (<see cref="For"/>); the hot paths (integers,
/// doubles, strings, arrays) are generic and allocation-free apart from the result itself.
/// </summary>
/// <remarks>Thread-safe: converters are immutable once built.</remarks>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal abstract partial class ValueConverter
{
    private static readonly ConcurrentDictionary<Type, ValueConverter> s_cache = new();

    protected ValueConverter(Type type)
    {
        Type = type;
    }

    /// <summary>The .NET type named in messages (the type asked for; the value read may be a subtype).</summary>
    public Type Type { get; }

    /// <summary>Reads the next value; <paramref name="depth"/> is how many container levels may still open.</summary>
    public abstract object? ReadBoxed(ref MessagePackReader reader, int depth);

    /// <summary>The converter for <paramref name="type"/> (cached).</summary>
    /// <exception cref="ArgumentException">A type no value can become (a by-ref or pointer type, <c>Span&lt;T&gt;</c>).</exception>
    public static ValueConverter For(Type type) => s_cache.TryGetValue(type, out var c) ? c : s_cache.GetOrAdd(type, Create(type));

    /// <summary>The error for a value of the wrong MessagePack kind at the reader's position (nothing consumed).</summary>
    protected ValueConversionException Mismatch(in MessagePackReader reader, string? detail = null)
    {
        var found = MsgPackValues.DescribeNext(reader);
        return new ValueConversionException($"cannot convert {found} to {MsgPackValues.DescribeType(Type)}{detail}", found, Type, "");
    }

    private static ValueConverter Create(Type type)
    {
        if (type.IsByRef || type.IsPointer || type.IsByRefLike || type.ContainsGenericParameters)
        {
            throw new ArgumentException($"no MessagePack value converts to {MsgPackValues.DescribeType(type)}", nameof(type));
        }
        if (type == typeof(object))
        {
            return new ObjectConverter();
        }
        if (type.IsEnum)
        {
            return Make(typeof(EnumConverter<>), type);
        }
        switch (Type.GetTypeCode(type))
        {
            case TypeCode.Boolean: return new BoolConverter();
            case TypeCode.SByte: return new IntegerConverter<sbyte>();
            case TypeCode.Byte: return new IntegerConverter<byte>();
            case TypeCode.Int16: return new IntegerConverter<short>();
            case TypeCode.UInt16: return new IntegerConverter<ushort>();
            case TypeCode.Int32: return new IntegerConverter<int>();
            case TypeCode.UInt32: return new IntegerConverter<uint>();
            case TypeCode.Int64: return new IntegerConverter<long>();
            case TypeCode.UInt64: return new IntegerConverter<ulong>();
            case TypeCode.Single: return new SingleConverter();
            case TypeCode.Double: return new DoubleConverter();
            case TypeCode.String: return new StringConverter();
            case TypeCode.Char: return new CharConverter();
        }
        if (type == typeof(BigInteger))
        {
            return new BigIntegerConverter();
        }
        if (type.IsSZArray)
        {
            return Make(typeof(ArrayConverter<>), type.GetElementType()!, type);
        }
        if (type.IsGenericType)
        {
            var definition = type.GetGenericTypeDefinition();
            var args = type.GetGenericArguments();
            if (definition == typeof(Nullable<>))
            {
                return Make(typeof(NullableConverter<>), args[0]);
            }
            if (definition == typeof(List<>) || definition == typeof(IList<>) || definition == typeof(ICollection<>))
            {
                return Make(typeof(ListConverter<>), args[0], type);
            }
            if (definition == typeof(IEnumerable<>) || definition == typeof(IReadOnlyList<>) || definition == typeof(IReadOnlyCollection<>))
            {
                return Make(typeof(ArrayConverter<>), args[0], type);
            }
            if (definition == typeof(Memory<>))
            {
                return Make(typeof(MemoryConverter<>), args[0]);
            }
            if (definition == typeof(ReadOnlyMemory<>))
            {
                return Make(typeof(ReadOnlyMemoryConverter<>), args[0]);
            }
            if (definition == typeof(Dictionary<,>) || definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>))
            {
                return (ValueConverter)Activator.CreateInstance(typeof(DictionaryConverter<,>).MakeGenericType(args), type)!;
            }
            if (TupleConverter.IsTuple(type))
            {
                return new TupleConverter(type);
            }
        }
        return new FallbackConverter(type);
    }

    private static ValueConverter Make(Type definition, Type argument) =>
        (ValueConverter)Activator.CreateInstance(definition.MakeGenericType(argument))!;

    private static ValueConverter Make(Type definition, Type argument, Type display) =>
        (ValueConverter)Activator.CreateInstance(definition.MakeGenericType(argument), display)!;
}

/// <summary>A converter whose result is statically a <typeparamref name="T"/> (no boxing on typed paths).</summary>
[RequiresDynamicCode("Builds converters for generic types at run time.")]
[RequiresUnreferencedCode("Reflects over the target type.")]
internal abstract class ValueConverter<T> : ValueConverter
{
    protected ValueConverter()
        : base(typeof(T))
    {
    }

    protected ValueConverter(Type display)
        : base(display)
    {
    }

    /// <summary>Reads the next value as a <typeparamref name="T"/>.</summary>
    public abstract T Read(ref MessagePackReader reader, int depth);

    public sealed override object? ReadBoxed(ref MessagePackReader reader, int depth) => Read(ref reader, depth);

    /// <summary>The typed converter for <typeparamref name="T"/>.</summary>
    public static ValueConverter<T> Instance => s_instance ??= For(typeof(T)) as ValueConverter<T> ?? new CastConverter(For(typeof(T)));

    private static ValueConverter<T>? s_instance;

    /// <summary>Adapts a converter whose result type is a subtype of <typeparamref name="T"/> (<c>List&lt;X&gt;</c> for <c>IList&lt;X&gt;</c>).</summary>
    private sealed class CastConverter(ValueConverter inner) : ValueConverter<T>(inner.Type)
    {
        public override T Read(ref MessagePackReader reader, int depth) => (T)inner.ReadBoxed(ref reader, depth)!;
    }
}
