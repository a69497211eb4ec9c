using System.Collections;
using System.Numerics;
using System.Text;
using Bridge.Interop.Native;

namespace Bridge.Interop.SubInterpreters;

/// <summary>Plain .NET values ↔ new objects of the current (sub-)interpreter, with raw C-API calls only (no
/// cached objects, no imports: safe in any interpreter whose GIL the caller holds).</summary>
/// <remarks>.NET → Python: null, bool, integers, <see cref="BigInteger"/>, double/float, string/char, byte[]
/// (→ bytes), <see cref="ReadOnlyMemory{T}"/> of bytes (→ bytes), dictionaries (→ dict), other enumerables (→ list).
/// Python → .NET: None, bool, int (long, or BigInteger beyond 64 bits), float (double), str, bytes/bytearray
/// (byte[]), list/tuple (object?[]), dict (Dictionary&lt;object, object?&gt;). Anything else throws
/// <see cref="ArgumentException"/> naming the type.</remarks>
internal static unsafe class SubInterpreterValues
{
    private const int MaxDepth = 64;

    /// <summary>A new reference for <paramref name="value"/>, or throws ArgumentException (nothing leaked).</summary>
    internal static nint ToPython(object? value, int depth)
    {
        if (depth > MaxDepth) throw new ArgumentException($"value nests deeper than {MaxDepth} levels");
        switch (value)
        {
            case null:
                CPython.Py_IncRef(CPython.None);
                return CPython.None;
            case bool b:
                return CPython.PyBool_FromLong(b ? 1 : 0);
            case long l: return CPython.PyLong_FromLongLong(l);
            case int i: return CPython.PyLong_FromLongLong(i);
            case short s: return CPython.PyLong_FromLongLong(s);
            case sbyte sb: return CPython.PyLong_FromLongLong(sb);
            case byte by: return CPython.PyLong_FromLongLong(by);
            case ushort us: return CPython.PyLong_FromLongLong(us);
            case uint ui: return CPython.PyLong_FromLongLong(ui);
            case ulong ul: return CPython.PyLong_FromUnsignedLongLong(ul);
            case BigInteger big:
                fixed (byte* p = Libc.Utf8Z(big.ToString(System.Globalization.CultureInfo.InvariantCulture))) return CPython.PyLong_FromString(p, 0, 10);
            case double d: return CPython.PyFloat_FromDouble(d);
            case float f: return CPython.PyFloat_FromDouble(f);
            case string str: return Str(str);
            case char c: return Str(c.ToString());
            case byte[] bytes: return Bytes(bytes);
            case ReadOnlyMemory<byte> rom: return Bytes(rom.Span);
            case Memory<byte> mem: return Bytes(mem.Span);
            case IDictionary dict:
            {
                nint d = CPython.PyDict_New();
                foreach (DictionaryEntry e in dict)
                {
                    nint k = 0, v = 0;
                    try
                    {
                        k = ToPython(e.Key, depth + 1);
                        v = ToPython(e.Value, depth + 1);
                        if (CPython.PyDict_SetItem(d, k, v) != 0)
                        {
                            CPython.PyErr_Clear();
                            throw new ArgumentException($"dictionary key of .NET type '{e.Key.GetType()}' is not hashable in Python");
                        }
                    }
                    catch
                    {
                        CPython.Py_DecRef(d);
                        throw;
                    }
                    finally
                    {
                        if (k != 0) CPython.Py_DecRef(k);
                        if (v != 0) CPython.Py_DecRef(v);
                    }
                }
                return d;
            }
            case IEnumerable seq:
            {
                nint list = CPython.PyList_New(0);
                foreach (object? item in seq)
                {
                    nint o;
                    try
                    {
                        o = ToPython(item, depth + 1);
                    }
                    catch
                    {
                        CPython.Py_DecRef(list);
                        throw;
                    }
                    CPython.PyList_Append(list, o);
                    CPython.Py_DecRef(o);
                }
                return list;
            }
            default:
                throw new ArgumentException(
                    $"a value of .NET type '{value.GetType()}' cannot be passed into a sub-interpreter (plain values only: "
                    + "null, bool, numbers, string, byte[], lists, dictionaries)");
        }
    }

    private static nint Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        fixed (byte* p = bytes) return CPython.PyUnicode_FromStringAndSize(p, bytes.Length);
    }

    private static nint Bytes(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes) return CPython.PyBytes_FromStringAndSize(p, bytes.Length);
    }

    /// <summary>The plain value of a borrowed reference, or null when it has none.</summary>
    internal static object? FromPythonOrNull(nint o)
    {
        try
        {
            return FromPython(o, MaxDepth);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The plain .NET value of a borrowed reference, or throws ArgumentException naming its type.</summary>
    internal static object? FromPython(nint o, int depth)
    {
        if (depth > MaxDepth) throw new ArgumentException($"result nests deeper than {MaxDepth} levels");
        if (o == CPython.None) return null;
        nint type = CPython.TypeOf(o);
        if (type == CPython.BoolType) return o == CPython.True;
        if (type == CPython.FloatType) return CPython.PyFloat_AsDouble(o);
        ulong flags = CPython.PyType_GetFlags(type);
        if ((flags & CPython.TpFlagsLongSubclass) != 0)
        {
            int overflow;
            long l = CPython.PyLong_AsLongLongAndOverflow(o, &overflow);
            if (overflow == 0) return l;
            nint s = CPython.PyObject_Str(o);
            try
            {
                return BigInteger.Parse((string)FromPython(s, depth)!, System.Globalization.CultureInfo.InvariantCulture);
            }
            finally
            {
                CPython.Py_DecRef(s);
            }
        }
        if ((flags & CPython.TpFlagsUnicodeSubclass) != 0)
        {
            nint size;
            byte* p = CPython.PyUnicode_AsUTF8AndSize(o, &size);
            if (p == null)
            {
                CPython.PyErr_Clear();
                throw new ArgumentException("a str result is not valid UTF-8 (lone surrogates)");
            }
            return SubInterpreter.Utf8(p, size);
        }
        if ((flags & CPython.TpFlagsBytesSubclass) != 0)
        {
            byte* p;
            nint size;
            CPython.PyBytes_AsStringAndSize(o, &p, &size);
            return new ReadOnlySpan<byte>(p, checked((int)size)).ToArray();
        }
        if ((flags & (CPython.TpFlagsListSubclass | CPython.TpFlagsTupleSubclass)) != 0)
        {
            bool isList = (flags & CPython.TpFlagsListSubclass) != 0;
            nint n = isList ? CPython.PyList_Size(o) : CPython.PyTuple_Size(o);
            var result = new object?[n];
            for (nint i = 0; i < n; i++)
            {
                result[i] = FromPython(isList ? CPython.PyList_GetItem(o, i) : CPython.PyTuple_GetItem(o, i), depth + 1);
            }
            return result;
        }
        if ((flags & CPython.TpFlagsDictSubclass) != 0)
        {
            var result = new Dictionary<object, object?>((int)CPython.PyDict_Size(o));
            nint pos = 0, k, v;
            while (CPython.PyDict_Next(o, &pos, &k, &v) != 0)
            {
                object key = FromPython(k, depth + 1) ?? throw new ArgumentException("a dict result has the key None, which has no .NET form");
                result[key] = FromPython(v, depth + 1);
            }
            return result;
        }
        if (CPython.TypeNameOf(o) is "bytearray" or "memoryview")
        {
            // Buffers: copied out through bytes() (one copy; the interpreter's object stays its own).
            nint b = CPython.PyObject_CallOneArg(BytesType(), o);
            if (b == 0)
            {
                CPython.PyErr_Clear();
                throw new ArgumentException($"a '{CPython.TypeNameOf(o)}' result could not be copied out");
            }
            try { return FromPython(b, depth); }
            finally { CPython.Py_DecRef(b); }
        }
        throw new ArgumentException(
            $"a result of Python type '{CPython.TypeNameOf(o)}' cannot leave a sub-interpreter: return None, bool, int, float, str, bytes, "
            + "list, tuple or dict (values cross interpreters as MessagePack, never as Python objects)");
    }

    private static nint BytesType()
    {
        // bytes is a static builtin type shared by all interpreters: reach it through an empty bytes object.
        nint empty = CPython.PyBytes_FromStringAndSize(null, 0);
        nint type = CPython.TypeOf(empty);
        CPython.Py_DecRef(empty);
        return type;
    }
}
