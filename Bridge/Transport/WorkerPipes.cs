namespace Bridge.Transport;

/// <summary>The two pipes between the pool and one worker (a spawned process or a hosted one).</summary>
internal static unsafe class WorkerPipes
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
