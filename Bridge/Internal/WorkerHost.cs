using Bridge.Transport;

namespace Bridge.Internal;

/// <summary>
/// Starts Python workers inside the host process instead of spawning them (ABI.md "Interpreter
/// workers"): the Python host runs dotbridge's ordinary worker loop in a sub-interpreter on its own
/// thread, over the two pipes the pool hands it. Everything else (scheduling, supervision, the wire
/// protocol, error mapping) is the same as for process workers; only start, stop and reaping differ.
/// </summary>
/// <remarks>Implementations must be thread-safe: the pool calls <see cref="Start"/> with its lock held,
/// from whichever thread needs a worker (a caller's thread or a worker's reader thread).</remarks>
internal interface IWorkerHost
{
    /// <summary>
    /// Starts a worker that reads TASK frames from <paramref name="taskReadFd"/> and writes its
    /// frames to <paramref name="resultWriteFd"/>. On success the host owns both fds (it closes them
    /// when the worker ends) and the result is a handle &gt; 0; on failure (&lt;= 0) the pool closes them.
    /// </summary>
    long Start(int workerId, int taskReadFd, int resultWriteFd);

    /// <summary>The pool terminates: the worker's task pipe is already closed; a worker still running a call
    /// should end it now if it can (interpreter workers: <c>SystemExit</c> at the next bytecode). Must not block.</summary>
    void Stop(long handle);

    /// <summary>The exit code the host reported for a worker whose pipes ended (null: none reported).</summary>
    int? TakeExitCode(long handle);
}
