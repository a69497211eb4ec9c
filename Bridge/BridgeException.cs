namespace Bridge;

/// <summary>
/// The base of the exceptions a <see cref="ProcessPool"/> call throws because of what happened in
/// a worker process or to the pool.
/// </summary>
/// <remarks>
/// <para>Errors come in three kinds (Bridge/PROTOCOL.md "ERROR map", STYLE.md "Errors across the
/// language boundary"):</para>
/// <list type="number">
/// <item><description><b>The task raised.</b> A Python callable raised: <see cref="PythonException"/>
/// (Python type name, message, formatted traceback; <c>__cause__</c> as
/// <see cref="Exception.InnerException"/>). A .NET method threw:
/// <see cref="RemoteInvocationException"/> (remote type, remote stack trace; the cause chain as
/// <see cref="Exception.InnerException"/>). Arguments or a result that did not convert on the
/// remote side are reported the same way, with <see cref="RemoteInvocationException.Kind"/>
/// <c>"args"</c>/<c>"result"</c>/<c>"target"</c>. A result that does not convert to the
/// <c>TResult</c> the caller asked for throws <see cref="ValueConversionException"/>, naming both
/// types. The pool stays healthy.</description></item>
/// <item><description><b>A worker died or the pool broke.</b> A worker that died (or broke the
/// protocol) while a task was in flight faults that task with <see cref="WorkerCrashedException"/>
/// (exit code or signal, pid); the pool replaces the worker and goes on. A worker kind that cannot
/// start at all (executable missing, initializer raised) faults its calls with
/// <see cref="BrokenPoolException"/>.</description></item>
/// <item><description><b>Misuse</b> gets plain .NET exceptions: <see cref="ArgumentException"/>,
/// <see cref="InvalidOperationException"/>, <see cref="ObjectDisposedException"/> (also for calls
/// still in flight when the pool is disposed). Cancellation through a
/// <see cref="CancellationToken"/> throws <see cref="OperationCanceledException"/> carrying that
/// token.</description></item>
/// </list>
/// <para>Every failed call gets its own exception instance. Instances are immutable and safe to
/// share between threads.</para>
/// </remarks>
public abstract class BridgeException : Exception
{
    /// <summary>Creates an exception with a message and an optional inner exception.</summary>
    protected BridgeException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
