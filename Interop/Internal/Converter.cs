using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using Bridge.Interop.Native;

namespace Bridge.Interop.Internal;

/// <summary>Value conversion between .NET and Python. Every method needs the GIL.</summary>
/// <remarks>
/// .NET → Python: null→None, bool→bool, every integer type and BigInteger→int, float/double→float,
/// string/char→str, byte[]→bytes, ITuple (ValueTuple/Tuple)→tuple, IDictionary→dict,
/// other IEnumerable (arrays, List&lt;T&gt;)→list, PyObject→itself.
/// Python → .NET: the reverse, into the requested type; <c>object</c> picks the natural type
/// (int→long or BigInteger, float→double, str→string, bytes→byte[], list→List&lt;object?&gt;,
/// tuple→object?[], dict→Dictionary&lt;object, object?&gt;, anything else→PyObject).
/// Generic collection and tuple targets are built by reflection (not trimming/AOT-safe).
/// </remarks>
internal static unsafe class Converter
{
    // ----------------------------------------------------------------- .NET → Python

    /// <summary>Returns a new reference; throws on failure (nothing leaked).</summary>
    internal static nint ToPython(object? value)
    {
        nint result = value switch
        {
            null => NewRef(CPython.None),
            PyObject p => NewRef(p.Handle),
            bool b => NewRef(b ? CPython.True : CPython.False),
            int i => CPython.PyLong_FromLongLong(i),
            long l => CPython.PyLong_FromLongLong(l),
            short s => CPython.PyLong_FromLongLong(s),
            sbyte sb => CPython.PyLong_FromLongLong(sb),
            byte by => CPython.PyLong_FromLongLong(by),
            ushort us => CPython.PyLong_FromLongLong(us),
            uint ui => CPython.PyLong_FromLongLong(ui),
            ulong ul => CPython.PyLong_FromUnsignedLongLong(ul),
            nint ni => CPython.PyLong_FromLongLong(ni),
            nuint nu => CPython.PyLong_FromUnsignedLongLong(nu),
            BigInteger bi => FromBigInteger(bi),
            double d => CPython.PyFloat_FromDouble(d),
            float f => CPython.PyFloat_FromDouble(f),
            string str => FromString(str),
            char c => FromString(c.ToString()),
            byte[] bytes => FromBytes(bytes),
            ITuple tuple => FromTuple(tuple),
            IDictionary dict => FromDictionary(dict),
            IEnumerable seq => FromSequence(seq),
            _ => CannotConvert(value),
        };
        if (result == 0) ThrowHelper.ThrowPythonError();
        return result;
    }

    private static nint CannotConvert(object value)
    {
        ThrowHelper.ThrowCannotConvertToPython(value.GetType());
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nint NewRef(nint o)
    {
        CPython.Py_IncRef(o);
        return o;
    }

    internal static nint FromString(string s)
    {
        int max = Encoding.UTF8.GetMaxByteCount(s.Length);
        if (max <= 512)
        {
            byte* buf = stackalloc byte[max];
            int n = Encoding.UTF8.GetBytes(s, new Span<byte>(buf, max));
            return CPython.PyUnicode_FromStringAndSize(buf, n);
        }
        var bytes = Encoding.UTF8.GetBytes(s);
        fixed (byte* p = bytes) return CPython.PyUnicode_FromStringAndSize(p, bytes.Length);
    }

    private static nint FromBytes(byte[] bytes)
    {
        fixed (byte* p = bytes) return CPython.PyBytes_FromStringAndSize(p, bytes.Length);
    }

    private static nint FromBigInteger(BigInteger value)
    {
        if (value >= long.MinValue && value <= long.MaxValue) return CPython.PyLong_FromLongLong((long)value);
        string hex = value.Sign < 0 ? "-" + BigInteger.Negate(value).ToString("x", CultureInfo.InvariantCulture)
                                    : value.ToString("x", CultureInfo.InvariantCulture);
        fixed (byte* p = Libc.Utf8Z(hex)) return CPython.PyLong_FromString(p, 0, 16);
    }

    private static nint FromTuple(ITuple tuple)
    {
        nint t = CPython.PyTuple_New(tuple.Length);
        if (t == 0) return 0;
        try
        {
            for (int i = 0; i < tuple.Length; i++) CPython.PyTuple_SetItem(t, i, ToPython(tuple[i]));
        }
        catch
        {
            CPython.Py_DecRef(t);
            throw;
        }
        return t;
    }

    private static nint FromSequence(IEnumerable seq)
    {
        nint list = CPython.PyList_New(0);
        if (list == 0) return 0;
        try
        {
            foreach (var item in seq)
            {
                nint o = ToPython(item);
                int rc = CPython.PyList_Append(list, o);
                CPython.Py_DecRef(o);
                if (rc != 0) ThrowHelper.ThrowPythonError();
            }
        }
        catch
        {
            CPython.Py_DecRef(list);
            throw;
        }
        return list;
    }

    private static nint FromDictionary(IDictionary dict)
    {
        nint d = CPython.PyDict_New();
        if (d == 0) return 0;
        try
        {
            foreach (DictionaryEntry entry in dict)
            {
                nint k = ToPython(entry.Key);
                nint v;
                try
                {
                    v = ToPython(entry.Value);
                }
                catch
                {
                    CPython.Py_DecRef(k);
                    throw;
                }
                int rc = CPython.PyDict_SetItem(d, k, v);
                CPython.Py_DecRef(k);
                CPython.Py_DecRef(v);
                if (rc != 0) ThrowHelper.ThrowPythonError();
            }
        }
        catch
        {
            CPython.Py_DecRef(d);
            throw;
        }
        return d;
    }

    // ----------------------------------------------------------------- Python → .NET

    /// <summary>Typed fast path: no boxing for long/int/double/bool. <paramref name="o"/> is borrowed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T FromPython<T>(nint o)
    {
        if (typeof(T) == typeof(long))
        {
            // Exact int only (bool and subclasses take the general path): no Python code runs.
            if (CPython.TypeOf(o) == CPython.LongType)
            {
                int overflow;
                long r = CPython.Fast_PyLong_AsLongLongAndOverflow(o, &overflow);
                if (overflow == 0 && !(r == -1 && CPython.Fast_PyErr_Occurred() != 0)) return Unsafe.As<long, T>(ref r);
            }
        }
        else if (typeof(T) == typeof(double))
        {
            if (CPython.TypeOf(o) == CPython.FloatType)
            {
                double r = CPython.Fast_PyFloat_AsDouble(o);
                return Unsafe.As<double, T>(ref r);
            }
        }
        else if (typeof(T) == typeof(bool))
        {
            if (o == CPython.True || o == CPython.False)
            {
                bool r = o == CPython.True;
                return Unsafe.As<bool, T>(ref r);
            }
        }
        else if (typeof(T) == typeof(string))
        {
            if ((CPython.FlagsOf(o) & CPython.TpFlagsUnicodeSubclass) != 0)
            {
                return (T)(object)AsString(o);
            }
        }
        return (T)FromPython(o, typeof(T))!;
    }

    /// <summary>Typed fast path: no boxing for long/int/double/bool. Returns a new reference; throws on failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nint ToPython<T>(T value)
    {
        nint r;
        if (typeof(T) == typeof(long)) r = CPython.Fast_PyLong_FromLongLong(Unsafe.As<T, long>(ref value));
        else if (typeof(T) == typeof(int)) r = CPython.Fast_PyLong_FromLongLong(Unsafe.As<T, int>(ref value));
        else if (typeof(T) == typeof(double)) r = CPython.Fast_PyFloat_FromDouble(Unsafe.As<T, double>(ref value));
        else if (typeof(T) == typeof(bool)) return NewRef(Unsafe.As<T, bool>(ref value) ? CPython.True : CPython.False);
        else if (typeof(T) == typeof(string)) r = value is null ? NewRef(CPython.None) : FromString(Unsafe.As<T, string>(ref value));
        else return ToPython((object?)value);
        if (r == 0) ThrowHelper.ThrowPythonError();
        return r;
    }

    /// <summary>Converts a borrowed reference to <paramref name="target"/>.</summary>
    internal static object? FromPython(nint o, Type target)
    {
        if (target == typeof(PyObject)) return PyObject.FromBorrowed(o);
        if (target == typeof(object)) return Natural(o);
        var underlying = Nullable.GetUnderlyingType(target);
        if (underlying is not null)
        {
            if (o == CPython.None) return null;
            target = underlying;
        }
        if (o == CPython.None && !target.IsValueType) return null;

        ulong flags = CPython.FlagsOf(o);
        bool isInt = (flags & CPython.TpFlagsLongSubclass) != 0;

        if (target == typeof(bool))
        {
            if (o == CPython.True) return true;
            if (o == CPython.False) return false;
        }
        else if (isInt && o != CPython.True && o != CPython.False && IsInteger(target))
        {
            return ToIntegral(o, target);
        }
        else if (!isInt && o != CPython.True && o != CPython.False && IsInteger(target)
                 && (flags & (CPython.TpFlagsUnicodeSubclass | CPython.TpFlagsBytesSubclass)) == 0)
        {
            // Integer-like objects (numpy.int64, ...) through __index__.
            nint index = CPython.PyNumber_Index(o);
            if (index != 0)
            {
                try
                {
                    return ToIntegral(index, target);
                }
                finally
                {
                    CPython.Py_DecRef(index);
                }
            }
            CPython.PyErr_Clear();
        }
        else if (target == typeof(double) || target == typeof(float))
        {
            // float, its subclasses (numpy.float64), int, and anything with __float__ or __index__.
            if ((flags & (CPython.TpFlagsUnicodeSubclass | CPython.TpFlagsBytesSubclass)) == 0)
            {
                double d = CPython.PyFloat_AsDouble(o);
                if (d == -1.0 && CPython.PyErr_Occurred() != 0)
                {
                    CPython.PyErr_Clear();
                }
                else
                {
                    return target == typeof(float) ? (object)(float)d : d;
                }
            }
        }
        else if (target == typeof(string))
        {
            if ((flags & CPython.TpFlagsUnicodeSubclass) != 0) return AsString(o);
        }
        else if (target == typeof(char))
        {
            if ((flags & CPython.TpFlagsUnicodeSubclass) != 0)
            {
                var s = AsString(o);
                if (s.Length == 1) return s[0];
                ThrowHelper.ThrowCannotConvert(o, target, "the string is not one UTF-16 code unit long");
            }
        }
        else if (target == typeof(byte[]))
        {
            if ((flags & CPython.TpFlagsBytesSubclass) != 0) return AsBytes(o);
        }
        else if (target.IsArray && target.GetArrayRank() == 1 && IsSequence(flags))
        {
            var element = target.GetElementType()!;
            var items = Items(o, flags);
            var array = Array.CreateInstance(element, items.Length);
            for (int i = 0; i < items.Length; i++) array.SetValue(FromPython(items[i], element), i);
            return array;
        }
        else if (target.IsGenericType)
        {
            var def = target.GetGenericTypeDefinition();
            var args = target.GetGenericArguments();
            if (IsSequence(flags) && (def == typeof(List<>) || def == typeof(IList<>) || def == typeof(IEnumerable<>)
                || def == typeof(ICollection<>) || def == typeof(IReadOnlyList<>) || def == typeof(IReadOnlyCollection<>)))
            {
                var items = Items(o, flags);
                var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(args[0]), items.Length)!;
                foreach (var item in items) list.Add(FromPython(item, args[0]));
                return list;
            }
            if ((flags & CPython.TpFlagsDictSubclass) != 0 && (def == typeof(Dictionary<,>) || def == typeof(IDictionary<,>)
                || def == typeof(IReadOnlyDictionary<,>)))
            {
                var dict = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(args))!;
                nint pos = 0, key, value;
                while (CPython.PyDict_Next(o, &pos, &key, &value) != 0)
                {
                    var k = FromPython(key, args[0]) ?? throw new PythonConversionException(TypeName(o), target, "a None key has no .NET form");
                    dict[k] = FromPython(value, args[1]);
                }
                return dict;
            }
            if (typeof(ITuple).IsAssignableFrom(target) && IsSequence(flags))
            {
                var items = Items(o, flags);
                if (args.Length == 8) ThrowHelper.ThrowCannotConvert(o, target, "tuples of more than 7 elements are not supported");
                if (items.Length != args.Length)
                    ThrowHelper.ThrowCannotConvert(o, target, $"the Python sequence has {items.Length} items, the .NET tuple {args.Length}");
                var values = new object?[items.Length];
                for (int i = 0; i < items.Length; i++) values[i] = FromPython(items[i], args[i]);
                return Activator.CreateInstance(target, values);
            }
        }
        else if (target == typeof(BigInteger))
        {
            if (isInt) return AsBigInteger(o);
        }
        ThrowHelper.ThrowCannotConvert(o, target);
        return null;
    }

    /// <summary>The natural .NET form of a borrowed reference.</summary>
    internal static object? Natural(nint o)
    {
        if (o == CPython.None) return null;
        if (o == CPython.True) return true;
        if (o == CPython.False) return false;
        ulong flags = CPython.FlagsOf(o);
        if ((flags & CPython.TpFlagsLongSubclass) != 0)
        {
            int overflow;
            long r = CPython.PyLong_AsLongLongAndOverflow(o, &overflow);
            if (r == -1 && CPython.PyErr_Occurred() != 0) ThrowHelper.ThrowPythonError();
            return overflow == 0 ? (object)r : AsBigInteger(o);
        }
        if (CPython.TypeOf(o) == CPython.FloatType) return CPython.PyFloat_AsDouble(o);
        if ((flags & CPython.TpFlagsUnicodeSubclass) != 0) return AsString(o);
        if ((flags & CPython.TpFlagsBytesSubclass) != 0) return AsBytes(o);
        if ((flags & CPython.TpFlagsListSubclass) != 0)
        {
            var items = Items(o, flags);
            var list = new List<object?>(items.Length);
            foreach (var item in items) list.Add(Natural(item));
            return list;
        }
        if ((flags & CPython.TpFlagsTupleSubclass) != 0)
        {
            var items = Items(o, flags);
            var array = new object?[items.Length];
            for (int i = 0; i < items.Length; i++) array[i] = Natural(items[i]);
            return array;
        }
        if ((flags & CPython.TpFlagsDictSubclass) != 0)
        {
            var dict = new Dictionary<object, object?>();
            nint pos = 0, key, value;
            while (CPython.PyDict_Next(o, &pos, &key, &value) != 0)
            {
                var k = Natural(key) ?? throw new PythonConversionException(TypeName(o), typeof(Dictionary<object, object?>), "a None key has no .NET form");
                dict[k] = Natural(value);
            }
            return dict;
        }
        return PyObject.FromBorrowed(o);
    }

    private static bool IsSequence(ulong flags) => (flags & (CPython.TpFlagsListSubclass | CPython.TpFlagsTupleSubclass)) != 0;

    /// <summary>Borrowed items of a list or tuple (valid while the container is alive and unchanged).</summary>
    private static nint[] Items(nint o, ulong flags)
    {
        bool isList = (flags & CPython.TpFlagsListSubclass) != 0;
        nint n = isList ? CPython.PyList_Size(o) : CPython.PyTuple_Size(o);
        var items = new nint[n];
        for (nint i = 0; i < n; i++) items[i] = isList ? CPython.PyList_GetItem(o, i) : CPython.PyTuple_GetItem(o, i);
        return items;
    }

    private static bool IsInteger(Type t)
        => t == typeof(long) || t == typeof(int) || t == typeof(short) || t == typeof(sbyte) || t == typeof(byte)
           || t == typeof(ushort) || t == typeof(uint) || t == typeof(ulong) || t == typeof(nint) || t == typeof(nuint)
           || t == typeof(BigInteger);

    private static object ToIntegral(nint o, Type target)
    {
        if (target == typeof(BigInteger)) return AsBigInteger(o);
        var big = AsBigInteger(o);
        try
        {
            if (target == typeof(long)) return (long)big;
            if (target == typeof(int)) return (int)big;
            if (target == typeof(short)) return (short)big;
            if (target == typeof(sbyte)) return (sbyte)big;
            if (target == typeof(byte)) return (byte)big;
            if (target == typeof(ushort)) return (ushort)big;
            if (target == typeof(uint)) return (uint)big;
            if (target == typeof(ulong)) return (ulong)big;
            if (target == typeof(nint)) return (nint)(long)big;
            return (nuint)(ulong)big;
        }
        catch (OverflowException e)
        {
            throw new PythonConversionException(TypeName(o), target, $"{big} is out of range", e);
        }
    }

    internal static BigInteger AsBigInteger(nint o)
    {
        int overflow;
        long small = CPython.PyLong_AsLongLongAndOverflow(o, &overflow);
        if (small == -1 && CPython.PyErr_Occurred() != 0) ThrowHelper.ThrowPythonError();
        if (overflow == 0) return small;
        nint hex = CPython.PyNumber_ToBase(o, 16); // "0x..." or "-0x..."
        if (hex == 0) ThrowHelper.ThrowPythonError();
        string s;
        try
        {
            s = AsString(hex);
        }
        finally
        {
            CPython.Py_DecRef(hex);
        }
        bool negative = s.StartsWith('-');
        var digits = "0" + s[(negative ? 3 : 2)..]; // leading 0 keeps the hex parse non-negative
        var magnitude = BigInteger.Parse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        return negative ? -magnitude : magnitude;
    }

    internal static string AsString(nint o)
    {
        nint size;
        byte* p = CPython.PyUnicode_AsUTF8AndSize(o, &size);
        if (p == null) ThrowHelper.ThrowPythonError(); // e.g. lone surrogates
        return Encoding.UTF8.GetString(p, (int)size);
    }

    private static byte[] AsBytes(nint o)
    {
        byte* p;
        nint n;
        if (CPython.PyBytes_AsStringAndSize(o, &p, &n) != 0) ThrowHelper.ThrowPythonError();
        return new ReadOnlySpan<byte>(p, (int)n).ToArray();
    }

    /// <summary>Qualified type name of an object ("int", "collections.OrderedDict"); never throws.</summary>
    internal static string TypeName(nint o)
    {
        nint type = CPython.TypeOf(o);
        string? module = AttrString(type, "__module__");
        string qual = AttrString(type, "__qualname__") ?? "?";
        return module is null or "builtins" ? qual : module + "." + qual;
    }

    /// <summary>str(o), or a placeholder if str() raises; never throws, leaves no error set.</summary>
    internal static string StrOrFallback(nint o)
    {
        nint s = CPython.PyObject_Str(o);
        if (s == 0)
        {
            CPython.PyErr_Clear();
            return "<str() failed>";
        }
        try
        {
            nint size;
            byte* p = CPython.PyUnicode_AsUTF8AndSize(s, &size);
            if (p == null)
            {
                CPython.PyErr_Clear();
                return "<str() not UTF-8>";
            }
            return Encoding.UTF8.GetString(p, (int)size);
        }
        finally
        {
            CPython.Py_DecRef(s);
        }
    }

    private static string? AttrString(nint o, string name)
    {
        nint v;
        fixed (byte* n = Libc.Utf8Z(name)) v = CPython.PyObject_GetAttrString(o, n);
        if (v == 0)
        {
            CPython.PyErr_Clear();
            return null;
        }
        try
        {
            return StrOrFallback(v);
        }
        finally
        {
            CPython.Py_DecRef(v);
        }
    }
}
