using Bridge.Interop.Native;

namespace Bridge.Interop.Internal;

/*
 * Hot path of PyObject.GetFunction: per call, one Restore/SaveThread pair (the cached per-thread
 * thread state), one conversion in, PyObject_CallOneArg (or Vectorcall), one conversion out, two
 * Py_DecRef. The conversions are generic over T, so the JIT compiles a branch-free path for
 * long/int/double/bool with no boxing.
 */

internal sealed class TypedFunction<TResult>(PyObject function)
{
    public TResult Invoke()
    {
        using var gil = Gil.Acquire();
        nint r = CPython.PyObject_CallNoArgs(function.Handle);
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
}

internal sealed class TypedFunction<T, TResult>(PyObject function)
{
    public TResult Invoke(T arg)
    {
        using var gil = Gil.Acquire();
        nint a = Converter.ToPython(arg);
        nint r = CPython.PyObject_CallOneArg(function.Handle, a);
        CPython.Py_DecRef(a);
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
}

internal sealed unsafe class TypedFunction<T1, T2, TResult>(PyObject function)
{
    public TResult Invoke(T1 arg1, T2 arg2)
    {
        using var gil = Gil.Acquire();
        nint* args = stackalloc nint[2];
        args[0] = Converter.ToPython(arg1);
        try
        {
            args[1] = Converter.ToPython(arg2);
        }
        catch
        {
            CPython.Py_DecRef(args[0]);
            throw;
        }
        nint r = CPython.PyObject_Vectorcall(function.Handle, args, 2, 0);
        CPython.Py_DecRef(args[0]);
        CPython.Py_DecRef(args[1]);
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
}
