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

    /// <summary>The exit code the host reported for a worker whose pipes ended (null: none reported).</summary>
    int? TakeExitCode(long handle);
}

/// <summary>The two pipes of a hosted worker.</summary>
internal static unsafe class HostedPipes
{
    /// <summary>
    /// Creates the task pipe (the pool's write end O_NONBLOCK) and the result pipe, all ends O_CLOEXEC
    /// so no spawned process inherits them.
    /// </summary>
    /// <exception cref="SpawnException">pipe2 failed.</exception>
    public static (int TaskWrite, int TaskRead, int ResultRead, int ResultWrite) Create()
    {
        int* task = stackalloc int[2];
        int* result = stackalloc int[2];
        if (Libc.Pipe2(task, Libc.O_CLOEXEC) != 0)
            throw new SpawnException("pipe2 failed: " + Libc.Describe(Libc.Errno), Libc.Errno);
        if (Libc.Pipe2(result, Libc.O_CLOEXEC) != 0)
        {
            int e = Libc.Errno;
            FdIO.CloseQuietly(task[0]);
            FdIO.CloseQuietly(task[1]);
            throw new SpawnException("pipe2 failed: " + Libc.Describe(e), e);
        }
        int fl = Libc.Fcntl(task[1], Libc.F_GETFL, 0);
        Libc.Fcntl(task[1], Libc.F_SETFL, fl | Libc.O_NONBLOCK);
        return (task[1], task[0], result[0], result[1]);
    }
}
