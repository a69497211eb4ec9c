namespace Bridge;

/// <summary>
/// A call could not run because a worker process failed: a worker kind cannot start (the Python
/// executable is missing, an initializer raised), or (as the subclass
/// <see cref="WorkerCrashedException"/>) the worker running the call died.
/// </summary>
/// <remarks>
/// <see cref="RemoteType"/>, <see cref="RemoteMessage"/> and <see cref="RemoteStackTrace"/>
/// describe the remote failure when a worker reported one (for example the initializer's
/// exception); they are empty otherwise. Immutable; thread-safe.
/// </remarks>
public class BrokenPoolException : BridgeException
{
    /// <summary>Creates an exception with a message.</summary>
    public BrokenPoolException(string message, Exception? innerException = null)
        : this(message, "", "", innerException)
    {
    }

    /// <summary>Creates an exception with a message and the remote failure's type and trace.</summary>
    public BrokenPoolException(string message, string remoteType, string remoteStackTrace, Exception? innerException = null)
        : base(message, innerException)
    {
        RemoteType = remoteType;
        RemoteStackTrace = remoteStackTrace;
    }

    /// <summary>The type of the remote failure (<c>dotbridge.WorkerCrashedError</c>, <c>builtins.ImportError</c>), or empty.</summary>
    public string RemoteType { get; }

    /// <summary>The remote message; the same as <see cref="Exception.Message"/>.</summary>
    public string RemoteMessage => Message;

    /// <summary>The remote traceback or stack trace, or empty.</summary>
    public string RemoteStackTrace { get; }
}
