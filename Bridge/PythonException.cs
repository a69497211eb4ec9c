namespace Bridge;

/// <summary>A Python callable raised in a Python worker process.</summary>
/// <remarks>
/// <para><see cref="PythonType"/> is the exception's qualified Python type
/// (<c>builtins.ValueError</c>, <c>mypkg.errors.MyError</c>), <see cref="Exception.Message"/> is
/// <c>str(exc)</c>, <see cref="Traceback"/> the formatted traceback from the worker (it names the
/// remote source lines). The exception's <c>__cause__</c> (or <c>__context__</c>) is
/// <see cref="Exception.InnerException"/>, again a <see cref="PythonException"/>.</para>
/// <para>The pool stays healthy after such an error. Immutable; thread-safe.</para>
/// </remarks>
public sealed class PythonException : RemoteInvocationException
{
    /// <summary>Creates an exception describing a Python error.</summary>
    /// <param name="pythonType">The qualified Python type name, <c>module.QualName</c>.</param>
    /// <param name="message"><c>str(exc)</c>.</param>
    /// <param name="traceback">The formatted traceback.</param>
    /// <param name="kind">What failed: <c>"raised"</c>, <c>"args"</c>, <c>"result"</c> or <c>"target"</c>.</param>
    /// <param name="index">The index of the failing call within its chunk, when known.</param>
    /// <param name="innerException">The converted <c>__cause__</c>, or <see langword="null"/>.</param>
    public PythonException(string pythonType, string message, string traceback, string kind = "raised", int? index = null, Exception? innerException = null)
        : base(pythonType, message, traceback, kind, index, innerException)
    {
    }

    /// <summary>The qualified Python type name: <c>builtins.ValueError</c>. Same as <see cref="RemoteInvocationException.RemoteType"/>.</summary>
    public string PythonType => RemoteType;

    /// <summary>The Python type's own name without its module: <c>ValueError</c>.</summary>
    public string PythonTypeName
    {
        get
        {
            int dot = RemoteType.LastIndexOf('.');
            return dot < 0 ? RemoteType : RemoteType[(dot + 1)..];
        }
    }

    /// <summary>The formatted Python traceback. Same as <see cref="RemoteInvocationException.RemoteStackTrace"/>.</summary>
    public string Traceback => RemoteStackTrace;
}
