using System.Runtime.CompilerServices;
using Bridge.Interop.Internal;
using Bridge.Interop.Native;

namespace Bridge.Interop;

/// <summary>Owns one reference to a Python object.</summary>
/// <remarks>
/// Every member takes the GIL itself (re-entrantly), so a PyObject may be used from any thread.
/// Dispose releases the reference at once; an undisposed PyObject's finalizer queues the decref,
/// which the next GIL release on any thread applies (finalizers never take the GIL).
/// Calling a disposed object throws <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed class PyObject : IDisposable
{
    private nint _handle;

    /// <summary>Takes ownership of a new reference (steals it).</summary>
    internal PyObject(nint handle)
    {
        _handle = handle;
    }

    /// <summary>Wraps a borrowed reference (increments it). GIL held.</summary>
    internal static PyObject FromBorrowed(nint handle)
    {
        CPython.Py_IncRef(handle);
        return new PyObject(handle);
    }

    /// <summary>Wraps a new reference, throwing the pending Python error when it is null. GIL held.</summary>
    internal static PyObject FromNew(nint handle)
    {
        if (handle == 0) ThrowHelper.ThrowPythonError();
        return new PyObject(handle);
    }

    /// <summary>The raw PyObject* (borrowed). Valid while this object is alive and not disposed.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public nint Handle
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            nint h = _handle;
            if (h == 0) ThrowDisposed();
            return h;
        }
    }

    /// <summary>True when this wraps Python's None.</summary>
    public bool IsNone => Handle == CPython.None;

    ~PyObject()
    {
        nint h = Interlocked.Exchange(ref _handle, 0);
        if (h != 0) Gil.QueueDecref(h);
    }

    /// <summary>Releases the reference (idempotent).</summary>
    public void Dispose()
    {
        nint h = Interlocked.Exchange(ref _handle, 0);
        if (h != 0) Gil.DecrefSoon(h);
        GC.SuppressFinalize(this);
    }

    // ------------------------------------------------------------------ attributes and items

    /// <summary><c>getattr(self, name)</c>.</summary>
    /// <exception cref="PythonException">Python raised (e.g. AttributeError).</exception>
    public unsafe PyObject GetAttr(string name)
    {
        using var gil = Gil.Acquire();
        nint r;
        fixed (byte* n = Libc.Utf8Z(name)) r = CPython.PyObject_GetAttrString(Handle, n);
        GC.KeepAlive(this);
        return FromNew(r);
    }

    /// <summary><c>hasattr(self, name)</c>.</summary>
    public unsafe bool HasAttr(string name)
    {
        using var gil = Gil.Acquire();
        int r;
        fixed (byte* n = Libc.Utf8Z(name)) r = CPython.PyObject_HasAttrString(Handle, n);
        GC.KeepAlive(this);
        return r == 1;
    }

    /// <summary><c>setattr(self, name, value)</c> (value converted from .NET).</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    /// <exception cref="PythonConversionException">The value has no Python form.</exception>
    public unsafe void SetAttr(string name, object? value)
    {
        using var gil = Gil.Acquire();
        nint v = Converter.ToPython(value);
        int rc;
        fixed (byte* n = Libc.Utf8Z(name)) rc = CPython.PyObject_SetAttrString(Handle, n, v);
        CPython.Py_DecRef(v);
        GC.KeepAlive(this);
        if (rc != 0) ThrowHelper.ThrowPythonError();
    }

    /// <summary>Null when the attribute is missing (borrowed target, GIL held).</summary>
    internal static unsafe PyObject? TryGetAttrRaw(nint o, string name)
    {
        nint r;
        fixed (byte* n = Libc.Utf8Z(name)) r = CPython.PyObject_GetAttrString(o, n);
        if (r != 0) return new PyObject(r);
        CPython.PyErr_Clear();
        return null;
    }

    /// <summary><c>self[key]</c> / <c>self[key] = value</c>.</summary>
    /// <exception cref="PythonException">Python raised (KeyError, IndexError, ...).</exception>
    public PyObject this[object? key]
    {
        get => GetItem(key);
        set => SetItem(key, value);
    }

    /// <summary><c>self[key]</c>.</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    public PyObject GetItem(object? key)
    {
        using var gil = Gil.Acquire();
        nint k = Converter.ToPython(key);
        nint r = CPython.PyObject_GetItem(Handle, k);
        CPython.Py_DecRef(k);
        GC.KeepAlive(this);
        return FromNew(r);
    }

    /// <summary><c>self[key]</c> converted to <typeparamref name="T"/>.</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    /// <exception cref="PythonConversionException">The item does not convert.</exception>
    public T GetItem<T>(object? key)
    {
        using var item = GetItem(key);
        return item.As<T>();
    }

    /// <summary><c>self[key] = value</c>.</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    public void SetItem(object? key, object? value)
    {
        using var gil = Gil.Acquire();
        nint k = Converter.ToPython(key);
        nint v;
        try
        {
            v = Converter.ToPython(value);
        }
        catch
        {
            CPython.Py_DecRef(k);
            throw;
        }
        int rc = CPython.PyObject_SetItem(Handle, k, v);
        CPython.Py_DecRef(k);
        CPython.Py_DecRef(v);
        GC.KeepAlive(this);
        if (rc != 0) ThrowHelper.ThrowPythonError();
    }

    /// <summary><c>len(self)</c>.</summary>
    /// <exception cref="PythonException">The object has no length.</exception>
    public long Length
    {
        get
        {
            using var gil = Gil.Acquire();
            nint n = CPython.PyObject_Size(Handle);
            GC.KeepAlive(this);
            if (n < 0) ThrowHelper.ThrowPythonError();
            return n;
        }
    }

    /// <summary>Iterates <c>iter(self)</c>, taking the GIL for each step only (never across a yield).
    /// Dispose each item (or let the finalizer queue it).</summary>
    /// <exception cref="PythonException">The object is not iterable, or the iterator raised.</exception>
    public IEnumerable<PyObject> Iterate()
    {
        PyObject iterator;
        using (Gil.Acquire())
        {
            iterator = FromNew(CPython.PyObject_GetIter(Handle));
            GC.KeepAlive(this);
        }
        using (iterator)
        {
            while (NextItem(iterator) is { } item) yield return item;
        }
    }

    private static PyObject? NextItem(PyObject iterator)
    {
        using var gil = Gil.Acquire();
        nint item = CPython.PyIter_Next(iterator.Handle);
        if (item != 0) return new PyObject(item);
        if (CPython.PyErr_Occurred() != 0) ThrowHelper.ThrowPythonError();
        return null;
    }

    // ------------------------------------------------------------------ calls

    /// <summary>Calls <c>self(*args)</c>; arguments are converted from .NET.</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    /// <exception cref="PythonConversionException">An argument has no Python form.</exception>
    public PyObject Call(params object?[] args)
    {
        using var gil = Gil.Acquire();
        return FromNew(CallRaw(args));
    }

    /// <summary>Calls <c>self(*args)</c> and converts the result to <typeparamref name="TResult"/>.</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    /// <exception cref="PythonConversionException">An argument or the result does not convert.</exception>
    public TResult Call<TResult>(params object?[] args)
    {
        using var gil = Gil.Acquire();
        nint r = CallRaw(args);
        if (r == 0) ThrowHelper.ThrowPythonError();
        try
        {
            return Converter.FromPython<TResult>(r);
        }
        finally
        {
            CPython.Py_DecRef(r);
        }
    }

    /// <summary>Calls <c>self(*args, **kwargs)</c>.</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    /// <exception cref="PythonConversionException">An argument has no Python form.</exception>
    public PyObject Invoke(IReadOnlyList<object?> args, IEnumerable<KeyValuePair<string, object?>>? kwargs = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        using var gil = Gil.Acquire();
        using var tuple = new PyObject(Converter.ToPython(new TupleView(args)));
        using var dict = kwargs is null ? null : Py.Dict();
        if (kwargs is not null)
        {
            foreach (var (key, value) in kwargs) dict!.SetItem(key, value);
        }
        nint r = CPython.PyObject_Call(Handle, tuple.Handle, dict?.Handle ?? 0);
        GC.KeepAlive(this);
        return FromNew(r);
    }

    /// <summary>Calls method <paramref name="name"/> with <paramref name="args"/>.</summary>
    /// <exception cref="PythonException">Python raised.</exception>
    public PyObject CallMethod(string name, params object?[] args)
    {
        using var gil = Gil.Acquire();
        using var method = GetAttr(name);
        return method.Call(args);
    }

    private unsafe nint CallRaw(object?[] args)
    {
        nint h = Handle;
        int n = args?.Length ?? 0;
        if (n == 0)
        {
            nint r0 = CPython.PyObject_CallNoArgs(h);
            GC.KeepAlive(this);
            return r0;
        }
        nint* argv = stackalloc nint[Math.Min(n, 16)];
        nint[]? heap = n > 16 ? new nint[n] : null;
        int converted = 0;
        try
        {
            fixed (nint* heapPtr = heap)
            {
                nint* p = heap is null ? argv : heapPtr;
                for (; converted < n; converted++) p[converted] = Converter.ToPython(args![converted]);
                nint r = CPython.PyObject_Vectorcall(h, p, (nuint)n, 0);
                GC.KeepAlive(this);
                return r;
            }
        }
        finally
        {
            for (int i = 0; i < converted; i++) CPython.Py_DecRef(heap is null ? argv[i] : heap[i]);
        }
    }

    /// <summary>A fast typed delegate for <c>self()</c>.</summary>
    /// <remarks>Holds its own reference; the delegate stays valid after this object is disposed.</remarks>
    public Func<TResult> GetFunction<TResult>() => new TypedFunction<TResult>(Share()).Invoke;

    /// <summary>A fast typed delegate for <c>self(arg)</c>: no boxing for long/int/double/bool/string,
    /// the cached per-thread GIL state and PyObject_CallOneArg.</summary>
    /// <remarks>Holds its own reference; the delegate stays valid after this object is disposed.
    /// Safe to call from several threads at once.</remarks>
    public Func<T, TResult> GetFunction<T, TResult>() => new TypedFunction<T, TResult>(Share()).Invoke;

    /// <summary>A fast typed delegate for <c>self(arg1, arg2)</c> (see <see cref="GetFunction{T, TResult}"/>).</summary>
    public Func<T1, T2, TResult> GetFunction<T1, T2, TResult>() => new TypedFunction<T1, T2, TResult>(Share()).Invoke;

    private PyObject Share()
    {
        using var gil = Gil.Acquire();
        var copy = FromBorrowed(Handle);
        GC.KeepAlive(this);
        return copy;
    }

    // ------------------------------------------------------------------ conversion and text

    /// <summary>Converts to <typeparamref name="T"/> (see the conversion table in Interop/README.md).</summary>
    /// <exception cref="PythonConversionException">No conversion; the message names both types.</exception>
    public T As<T>()
    {
        using var gil = Gil.Acquire();
        var r = Converter.FromPython<T>(Handle);
        GC.KeepAlive(this);
        return r;
    }

    /// <summary>Converts to <paramref name="type"/>.</summary>
    /// <exception cref="PythonConversionException">No conversion; the message names both types.</exception>
    public object? As(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        using var gil = Gil.Acquire();
        var r = Converter.FromPython(Handle, type);
        GC.KeepAlive(this);
        return r;
    }

    /// <summary>The natural .NET form (long/BigInteger, double, string, byte[], List, object?[] for tuples, Dictionary, or a PyObject).</summary>
    public object? ToNatural() => As<object>();

    /// <summary>The qualified Python type name, e.g. "int" or "collections.OrderedDict".</summary>
    public string PythonTypeName
    {
        get
        {
            using var gil = Gil.Acquire();
            var r = Converter.TypeName(Handle);
            GC.KeepAlive(this);
            return r;
        }
    }

    /// <summary><c>str(self)</c>.</summary>
    public override string ToString()
    {
        if (_handle == 0) return "<disposed PyObject>";
        using var gil = Gil.Acquire();
        nint s = CPython.PyObject_Str(Handle);
        GC.KeepAlive(this);
        using var str = FromNew(s);
        return Converter.AsString(str.Handle);
    }

    /// <summary><c>repr(self)</c>.</summary>
    /// <exception cref="PythonException">__repr__ raised.</exception>
    public string Repr()
    {
        using var gil = Gil.Acquire();
        nint s = CPython.PyObject_Repr(Handle);
        GC.KeepAlive(this);
        using var str = FromNew(s);
        return Converter.AsString(str.Handle);
    }

    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(PyObject));

    /// <summary>Lets a list of arguments convert as a Python tuple.</summary>
    private sealed class TupleView(IReadOnlyList<object?> items) : ITuple
    {
        public object? this[int index] => items[index];
        public int Length => items.Count;
    }
}
