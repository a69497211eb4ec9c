using Bridge.Interop.Internal;
using Bridge.Interop.Native;

namespace Bridge.Interop;

/// <summary>A Python exception raised by code called through <see cref="PyObject"/>.</summary>
/// <remarks>
/// <see cref="PythonTypeName"/> is the qualified type name (builtins without module: "ValueError";
/// others "module.QualName"), <see cref="PythonMessage"/> is <c>str(exc)</c>, and
/// <see cref="PythonTraceback"/> is <c>traceback.format_exception(exc)</c> joined (it includes the chain).
/// <c>__cause__</c> (or, unless suppressed, <c>__context__</c>) becomes <see cref="Exception.InnerException"/>.
/// Errors are fetched with PyErr_GetRaisedException on 3.12+ and PyErr_Fetch/NormalizeException before.
/// </remarks>
public sealed class PythonException : Exception
{
    private const int MaxChainDepth = 16;

    /// <summary>Creates the exception (normally done by the runtime when Python raises).</summary>
    public PythonException(string pythonTypeName, string pythonMessage, string pythonTraceback, Exception? innerException = null)
        : base(pythonMessage.Length == 0 ? pythonTypeName : $"{pythonTypeName}: {pythonMessage}", innerException)
    {
        PythonTypeName = pythonTypeName;
        PythonMessage = pythonMessage;
        PythonTraceback = pythonTraceback;
    }

    /// <summary>Qualified Python type name, e.g. "ValueError" or "json.decoder.JSONDecodeError".</summary>
    public string PythonTypeName { get; }

    /// <summary><c>str(exc)</c>.</summary>
    public string PythonMessage { get; }

    /// <summary>The formatted Python traceback (<c>traceback.format_exception</c>), including the cause chain.</summary>
    public string PythonTraceback { get; }

    /// <inheritdoc/>
    public override string ToString()
        => base.ToString() + Environment.NewLine + "--- Python traceback ---" + Environment.NewLine + PythonTraceback;

    /// <summary>Takes the pending Python error (GIL held) and clears it.</summary>
    internal static unsafe PythonException FetchPending()
    {
        nint exc;
        if (CPython.PyErr_GetRaisedException != null)
        {
            exc = CPython.PyErr_GetRaisedException();
        }
        else
        {
            nint type, value, tb;
            CPython.PyErr_Fetch(&type, &value, &tb);
            if (type != 0) CPython.PyErr_NormalizeException(&type, &value, &tb);
            if (value != 0 && tb != 0) CPython.PyException_SetTraceback(value, tb);
            if (type != 0) CPython.Py_DecRef(type);
            if (tb != 0) CPython.Py_DecRef(tb);
            exc = value;
        }
        if (exc == 0)
        {
            return new PythonException("SystemError", "a Python API call failed without setting an exception", "");
        }
        try
        {
            return FromExceptionObject(exc, 0);
        }
        finally
        {
            CPython.Py_DecRef(exc);
        }
    }

    /// <summary>Builds the .NET exception for a Python exception instance (borrowed reference, GIL held).</summary>
    internal static PythonException FromExceptionObject(nint exc, int depth)
    {
        string typeName = Converter.TypeName(exc);
        string message = Converter.StrOrFallback(exc);
        string traceback = depth == 0 ? FormatTraceback(exc) : "";
        Exception? inner = null;
        if (depth < MaxChainDepth)
        {
            nint next = CPython.PyException_GetCause(exc);
            if (next == 0 && !SuppressContext(exc)) next = CPython.PyException_GetContext(exc);
            if (next != 0)
            {
                try
                {
                    if (next != CPython.None) inner = FromExceptionObject(next, depth + 1);
                }
                finally
                {
                    CPython.Py_DecRef(next);
                }
            }
        }
        return new PythonException(typeName, message, traceback, inner);
    }

    private static bool SuppressContext(nint exc)
    {
        using var flag = PyObject.TryGetAttrRaw(exc, "__suppress_context__");
        return flag is not null && CPython.PyObject_IsTrue(flag.Handle) == 1;
    }

    private static string FormatTraceback(nint exc)
    {
        try
        {
            using var tbModule = Py.Import("traceback");
            using var format = tbModule.GetAttr("format_exception");
            using var excObject = PyObject.FromBorrowed(exc);
            var lines = format.Call<List<string>>(excObject);
            return string.Concat(lines);
        }
        catch (PythonException)
        {
            return "";
        }
        catch (PythonConversionException)
        {
            return "";
        }
    }
}
