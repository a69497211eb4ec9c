namespace Bridge;

/// <summary>
/// A task raised in a worker process: a .NET method threw (or, as the subclass
/// <see cref="PythonException"/>, a Python callable raised).
/// </summary>
/// <remarks>
/// <para><see cref="Exception.Message"/> is the remote exception's message;
/// <see cref="RemoteType"/> is its full type name (<c>System.ArgumentException</c>) and
/// <see cref="RemoteStackTrace"/> its stack trace as formatted in the worker. The remote cause
/// chain (<c>InnerException</c> in .NET, <c>__cause__</c>/<c>__context__</c> in Python) becomes
/// this exception's <see cref="Exception.InnerException"/> chain, each link of the same type.</para>
/// <para>The pool stays healthy after such an error. Immutable; thread-safe.</para>
/// </remarks>
public class RemoteInvocationException : BridgeException
{
    /// <summary>Creates an exception describing a remote error.</summary>
    /// <param name="remoteType">The remote exception's full type name.</param>
    /// <param name="message">The remote exception's message.</param>
    /// <param name="remoteStackTrace">The remote stack trace or traceback text.</param>
    /// <param name="innerException">The remote cause, converted, or <see langword="null"/>.</param>
    public RemoteInvocationException(string remoteType, string message, string remoteStackTrace, Exception? innerException = null)
        : this(remoteType, message, remoteStackTrace, "raised", null, innerException)
    {
    }

    /// <summary>Creates an exception describing a remote error of a given kind.</summary>
    /// <param name="remoteType">The remote exception's full type name.</param>
    /// <param name="message">The remote exception's message.</param>
    /// <param name="remoteStackTrace">The remote stack trace or traceback text.</param>
    /// <param name="kind">What failed: <c>"raised"</c>, <c>"args"</c>, <c>"result"</c> or <c>"target"</c>.</param>
    /// <param name="index">The index of the failing call within its chunk, when known.</param>
    /// <param name="innerException">The remote cause, converted, or <see langword="null"/>.</param>
    public RemoteInvocationException(string remoteType, string message, string remoteStackTrace, string kind, int? index, Exception? innerException)
        : base(message, innerException)
    {
        RemoteType = remoteType;
        RemoteStackTrace = remoteStackTrace;
        Kind = kind;
        Index = index;
    }

    /// <summary>The remote exception's full type name: <c>System.InvalidOperationException</c>, <c>builtins.ValueError</c>.</summary>
    public string RemoteType { get; }

    /// <summary>The remote stack trace (.NET) or formatted traceback (Python), as text.</summary>
    public string RemoteStackTrace { get; }

    /// <summary>
    /// What failed remotely (PROTOCOL.md "ERROR map" <c>kind</c>): <c>"raised"</c> the callable
    /// raised; <c>"args"</c> the arguments did not convert; <c>"result"</c> the result could not be
    /// encoded; <c>"target"</c> the callable or method was not found.
    /// </summary>
    public string Kind { get; }

    /// <summary>The index of the failing call within its chunk, when the worker reported it.</summary>
    public int? Index { get; }

    /// <summary>The message, the remote type, and the remote stack trace.</summary>
    public override string ToString()
    {
        string text = $"{GetType().FullName}: [{RemoteType}] {Message}";
        if (RemoteStackTrace.Length > 0)
        {
            text += Environment.NewLine + "--- remote stack trace ---" + Environment.NewLine + RemoteStackTrace.TrimEnd();
        }
        if (InnerException is not null)
        {
            text += Environment.NewLine + " ---> " + InnerException;
        }
        if (StackTrace is { } local)
        {
            text += Environment.NewLine + local;
        }
        return text;
    }
}
