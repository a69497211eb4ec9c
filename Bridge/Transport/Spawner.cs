using System.Runtime.InteropServices;
using System.Text;

namespace Bridge.Transport;

/// <summary>A worker process started by <see cref="Spawner"/>, with the parent's ends of its two pipes.</summary>
/// <param name="Pid">The child's pid (reap it with waitpid).</param>
/// <param name="TaskFd">The parent's write end of the task pipe (the child's fd 3); O_NONBLOCK, O_CLOEXEC.</param>
/// <param name="ResultFd">The parent's read end of the result pipe (the child's fd 4); blocking, O_CLOEXEC.</param>
internal readonly record struct SpawnedProcess(int Pid, int TaskFd, int ResultFd);

/// <summary>The worker could not be started (the executable is missing, not executable, ...).</summary>
internal sealed class SpawnException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SpawnException(string message, int errno) : base(message) => Errno = errno;

    /// <summary>The errno posix_spawn reported.</summary>
    public int Errno { get; }
}

/// <summary>
/// Starts worker processes with libc <c>posix_spawn</c>/<c>posix_spawnp</c> (PROTOCOL.md "Transport").
/// </summary>
/// <remarks>
/// Design notes: not <c>System.Diagnostics.Process</c>, because the pool runs inside a Python
/// process and must not install .NET's SIGCHLD handling there, and must hand the child exactly fds
/// 3 and 4. Both pipes are created O_CLOEXEC, so no other child started meanwhile inherits them;
/// file actions dup2 the child's ends to 3 and 4 (dup2 clears O_CLOEXEC on the copy), after moving
/// a source that already is 3 or 4 above 10. stdin is /dev/null, stdout/stderr are inherited. The
/// child gets an empty signal mask and default dispositions for every signal. The environment is
/// libc's current <c>environ</c> (so it sees Python's <c>os.environ</c> changes) plus overrides.
/// Thread-safe.
/// </remarks>
internal static unsafe class Spawner
{
    private const int FileActionsSize = 256;  // glibc: 80 bytes
    private const int AttrSize = 512;         // glibc: 336 bytes
    private const int SigSetSize = 128;

    /// <summary>Starts <paramref name="argv"/> with the task pipe as fd 3 and the result pipe as fd 4.</summary>
    /// <exception cref="SpawnException">pipe2 or posix_spawn failed.</exception>
    public static SpawnedProcess Spawn(IReadOnlyList<string> argv, IEnumerable<KeyValuePair<string, string>>? envOverrides)
    {
        if (argv.Count == 0)
            throw new ArgumentException("empty command line", nameof(argv));
        var (parentTask, childIn, parentResult, childOut) = WorkerPipes.Create();
        var mem = new List<nint>();
        void* fa = null, attr = null;
        bool ok = false;
        try
        {
            childIn = MoveAbove(childIn);
            childOut = MoveAbove(childOut);
            fa = NativeMemory.AllocZeroed(FileActionsSize);
            attr = NativeMemory.AllocZeroed(AttrSize);
            void* sigs = NativeMemory.AllocZeroed(SigSetSize);
            mem.Add((nint)sigs);
            Check(Libc.FileActionsInit(fa), "posix_spawn_file_actions_init");
            Check(Libc.FileActionsAddDup2(fa, childIn, 3), "adddup2");
            Check(Libc.FileActionsAddDup2(fa, childOut, 4), "adddup2");
            byte* devnull = Utf8("/dev/null", mem);
            Check(Libc.FileActionsAddOpen(fa, 0, devnull, Libc.O_RDONLY, 0), "addopen");
            Check(Libc.SpawnAttrInit(attr), "posix_spawnattr_init");
            Check(Libc.SpawnAttrSetFlags(attr, Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETSIGDEF), "setflags");
            Libc.SigEmptySet(sigs);
            Check(Libc.SpawnAttrSetSigMask(attr, sigs), "setsigmask");
            Libc.SigFillSet(sigs);
            Check(Libc.SpawnAttrSetSigDefault(attr, sigs), "setsigdefault");

            byte** cargv = (byte**)NativeMemory.AllocZeroed((nuint)(argv.Count + 1), (nuint)sizeof(nint));
            mem.Add((nint)cargv);
            for (int i = 0; i < argv.Count; i++)
                cargv[i] = Utf8(argv[i], mem);
            byte** envp = BuildEnv(envOverrides, mem);

            int pid;
            int rc = argv[0].Contains('/')
                ? Libc.PosixSpawn(&pid, cargv[0], fa, attr, cargv, envp)
                : Libc.PosixSpawnp(&pid, cargv[0], fa, attr, cargv, envp);
            if (rc != 0)
                throw new SpawnException($"cannot start worker '{argv[0]}': {Libc.Describe(rc)}", rc);
            FdIO.CloseQuietly(childIn);
            FdIO.CloseQuietly(childOut);
            childIn = childOut = -1;
            ok = true;
            return new SpawnedProcess(pid, parentTask, parentResult);
        }
        finally
        {
            if (!ok)
            {
                FdIO.CloseQuietly(childIn);
                FdIO.CloseQuietly(childOut);
                FdIO.CloseQuietly(parentTask);
                FdIO.CloseQuietly(parentResult);
            }
            if (fa != null)
            {
                Libc.FileActionsDestroy(fa);
                NativeMemory.Free(fa);
            }
            if (attr != null)
            {
                Libc.SpawnAttrDestroy(attr);
                NativeMemory.Free(attr);
            }
            foreach (var p in mem)
                NativeMemory.Free((void*)p);
        }
    }

    private static int MoveAbove(int fd)
    {
        if (fd != 3 && fd != 4)
            return fd;
        int moved = Libc.Fcntl(fd, Libc.F_DUPFD_CLOEXEC, 10);
        if (moved < 0)
            throw new SpawnException("fcntl(F_DUPFD_CLOEXEC) failed: " + Libc.Describe(Libc.Errno), Libc.Errno);
        Libc.Close(fd);
        return moved;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
            throw new SpawnException($"{what} failed: {Libc.Describe(rc)}", rc);
    }

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="s"/> in native memory, recorded in <paramref name="mem"/> for freeing.</summary>
    internal static byte* Utf8(string s, List<nint> mem)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        mem.Add((nint)p);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    private static byte** BuildEnv(IEnumerable<KeyValuePair<string, string>>? overrides, List<nint> mem)
    {
        var over = new Dictionary<string, string>(StringComparer.Ordinal);
        if (overrides is not null)
            foreach (var kv in overrides)
                over[kv.Key] = kv.Value;
        var entries = new List<nint>();
        byte** env = Libc.Environ;
        if (env != null)
        {
            for (byte** e = env; *e != null; e++)
            {
                var span = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(*e);
                int eq = span.IndexOf((byte)'=');
                if (eq > 0 && over.Count > 0 && over.ContainsKey(Encoding.UTF8.GetString(span[..eq])))
                    continue;
                entries.Add((nint)(*e)); // libc owns it; valid for the duration of the spawn
            }
        }
        foreach (var kv in over)
            entries.Add((nint)Utf8(kv.Key + "=" + kv.Value, mem));
        byte** envp = (byte**)NativeMemory.AllocZeroed((nuint)(entries.Count + 1), (nuint)sizeof(nint));
        mem.Add((nint)envp);
        for (int i = 0; i < entries.Count; i++)
            envp[i] = (byte*)entries[i];
        return envp;
    }

    /// <summary>
    /// Reaps <paramref name="pid"/> with a blocking waitpid and returns its exit code (negative:
    /// killed by that signal). Returns null if the pid is not our child (already reaped).
    /// </summary>
    public static int? WaitExit(int pid)
    {
        int status;
        while (true)
        {
            int r = Libc.WaitPid(pid, &status, 0);
            if (r == pid)
                return Libc.DecodeWaitStatus(status);
            if (r < 0 && Libc.Errno == Libc.EINTR)
                continue;
            return null;
        }
    }

    /// <summary>Like <see cref="WaitExit"/> without blocking: false if the child still runs.</summary>
    public static bool TryWaitExit(int pid, out int? exitCode)
    {
        int status;
        while (true)
        {
            int r = Libc.WaitPid(pid, &status, Libc.WNOHANG);
            if (r == pid)
            {
                exitCode = Libc.DecodeWaitStatus(status);
                return true;
            }
            if (r == 0)
            {
                exitCode = null;
                return false;
            }
            if (r < 0 && Libc.Errno == Libc.EINTR)
                continue;
            exitCode = null;
            return true; // ECHILD: not ours any more
        }
    }
}
