using Bridge.Interop.Internal;
using Bridge.Interop.Native;

namespace Bridge.Interop;

/// <summary>Entry points: import modules, make Python values, run code.</summary>
/// <remarks>Every member takes the GIL itself and initializes nothing: call
/// <see cref="PythonRuntime.Initialize"/> first. Thread-safe.</remarks>
public static class Py
{
    /// <summary><c>import name</c> (dotted names return the leaf module).</summary>
    /// <exception cref="PythonException">ImportError and anything the module raised.</exception>
    /// <exception cref="InvalidOperationException">Python is not initialized.</exception>
    public static unsafe PyObject Import(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        using var gil = Gil.Acquire();
        nint m;
        fixed (byte* n = Libc.Utf8Z(name)) m = CPython.PyImport_ImportModule(n);
        if (m == 0) ThrowHelper.ThrowPythonError();
        return new PyObject(m);
    }

    /// <summary>Converts a .NET value to a new Python object (see the conversion table).</summary>
    /// <exception cref="PythonConversionException">The value has no Python form.</exception>
    public static PyObject From(object? value)
    {
        using var gil = Gil.Acquire();
        return new PyObject(Converter.ToPython(value));
    }

    /// <summary>A new reference to None.</summary>
    public static PyObject None()
    {
        using var gil = Gil.Acquire();
        return PyObject.FromBorrowed(CPython.None);
    }

    /// <summary>A new empty dict.</summary>
    public static PyObject Dict()
    {
        using var gil = Gil.Acquire();
        return PyObject.FromNew(CPython.PyDict_New());
    }

    /// <summary>Runs <paramref name="code"/> with <c>exec</c> in <paramref name="globals"/> (a new dict with
    /// <c>__builtins__</c> when null) and returns that globals dict.</summary>
    /// <exception cref="PythonException">The code raised (SyntaxError included).</exception>
    public static PyObject Exec(string code, PyObject? globals = null)
    {
        ArgumentNullException.ThrowIfNull(code);
        using var gil = Gil.Acquire();
        var g = globals is null ? NewGlobals() : PyObject.FromBorrowed(globals.Handle);
        try
        {
            using var builtins = Import("builtins");
            using var exec = builtins.GetAttr("exec");
            exec.Call(code, g).Dispose();
            return g;
        }
        catch
        {
            g.Dispose();
            throw;
        }
    }

    /// <summary>Evaluates expression <paramref name="expression"/> in <paramref name="globals"/> (a fresh namespace when null).</summary>
    /// <exception cref="PythonException">The expression raised.</exception>
    public static PyObject Eval(string expression, PyObject? globals = null)
    {
        ArgumentNullException.ThrowIfNull(expression);
        using var gil = Gil.Acquire();
        using var g = globals is null ? NewGlobals() : PyObject.FromBorrowed(globals.Handle);
        using var builtins = Import("builtins");
        using var eval = builtins.GetAttr("eval");
        return eval.Call(expression, g);
    }

    /// <summary>Inserts <paramref name="directory"/> at the front of <c>sys.path</c> (no-op when present).</summary>
    public static void AddToSysPath(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        using var gil = Gil.Acquire();
        using var sys = Import("sys");
        using var path = sys.GetAttr("path");
        using var contains = path.CallMethod("__contains__", directory);
        if (!contains.As<bool>()) path.CallMethod("insert", 0, directory).Dispose();
    }

    private static PyObject NewGlobals()
    {
        var g = Dict();
        using var builtins = Import("builtins");
        g.SetItem("__builtins__", builtins);
        return g;
    }
}
