using System.Runtime.InteropServices;
using System.Text;
using Bridge.Transport;

namespace Bridge.Tracking;

/*
 * Design notes (the .NET side of "nothing leaks"; see Bridge/SHARED.md "Ownership and clean-up")
 *
 * - What CPython's Lib/multiprocessing/resource_tracker.py does, for names a .NET process creates:
 *   on the first SharedMemorySegment/SharedSemaphore Create, this process starts ONE tracker
 *   process (`Bridge tracker <creator-pid>`, the same apphost the pool runs as its .NET worker)
 *   whose stdin is the read end of a pipe; each Create writes a REGISTER record, each Unlink an
 *   UNREGISTER. When the pipe reaches EOF (the creator died, however: kill -9 included) or its
 *   parent changes, the tracker unlinks what is still registered and exits (TrackerProcess.cs).
 * - Processes that never create a name never start a tracker. The spawn is one posix_spawn
 *   (well under a millisecond); the records wait in the pipe while the tracker's runtime starts,
 *   so the first Create does not wait for it, and a creator killed right after its first Create
 *   is still cleaned up (the tracker reads the buffered records, then EOF).
 * - The write end is O_CLOEXEC: no other child (pool workers, Process.Start) holds it, so the
 *   tracker sees EOF exactly when this process is gone. Its stdout is /dev/null, stderr ours.
 * - Records: one byte 'R' or 'U', one byte kind ('s' segment: the file /dev/shm/<name>; 'm'
 *   semaphore: sem_unlink(<name>)), the UTF-8 name, a NUL (names cannot hold NUL). A record is
 *   written with one write(2), under a lock, so records never interleave.
 * - If a write fails (the tracker died: EPIPE), the old tracker is SIGKILLed and reaped (no
 *   zombie), a new one is started and every name still registered is sent again. If it cannot be started at all (no Bridge apphost/Bridge.dll next
 *   to this assembly), tracking is off for this process: one line on stderr, Create still works.
 * - DOTBRIDGE_TRACKER=0 turns it off. Bridge.Native (inside Python) does not compile this file:
 *   Python's own resource tracker covers the names Python creates.
 */

/// <summary>The client side of the resource tracker: registers names this process created.</summary>
/// <remarks>Thread-safe. Never throws: tracking is best effort, creation must not fail because of it.</remarks>
internal static unsafe partial class ResourceTracker
{
    /// <summary>A shared memory segment: the file <c>/dev/shm/&lt;name&gt;</c>.</summary>
    public const byte Segment = (byte)'s';

    /// <summary>A POSIX named semaphore: <c>sem_unlink(name)</c>.</summary>
    public const byte Semaphore = (byte)'m';

    private static readonly Lock s_lock = new();
    private static readonly HashSet<(byte Kind, string Name)> s_names = [];
    private static int s_fd = -1;
    private static int s_pid;
    private static bool s_off = IsTurnedOff();

    /// <summary>The tracker's pid (0 when none runs): for tests.</summary>
    public static int TrackerPid
    {
        get
        {
            lock (s_lock)
            {
                return s_fd >= 0 ? s_pid : 0;
            }
        }
    }

    /// <summary>Records that this process created <paramref name="name"/>; starts the tracker on first use.</summary>
    public static void Register(byte kind, string name)
    {
        lock (s_lock)
        {
            if (s_off || !s_names.Add((kind, name)))
            {
                return;
            }
            if (s_fd < 0 && !Start())
            {
                return;
            }
            if (!Send((byte)'R', kind, name))
            {
                Restart();
            }
        }
    }

    /// <summary>Records that <paramref name="name"/> was unlinked by this process (no-op if it was not registered).</summary>
    public static void Unregister(byte kind, string name)
    {
        lock (s_lock)
        {
            if (!s_names.Remove((kind, name)) || s_fd < 0)
            {
                return;
            }
            if (!Send((byte)'U', kind, name))
            {
                Restart();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "sigaddset")]
    private static partial int SigAddSet(void* set, int signal);

    private static bool IsTurnedOff()
    {
        string? v = Environment.GetEnvironmentVariable("DOTBRIDGE_TRACKER");
        return v is "0" or "off" or "false" || OperatingSystem.IsWindows();
    }

    // Under s_lock. The tracker died (EPIPE): reap it, start another, send every live name again.
    private static void Restart()
    {
        CloseAndReap();
        if (!Start())
        {
            return;
        }
        foreach (var (kind, name) in s_names)
        {
            if (!Send((byte)'R', kind, name))
            {
                CloseAndReap();  // dies at once again: give up for this process
                s_off = true;
                return;
            }
        }
    }

    // Under s_lock. A write failed: the tracker is dead (EPIPE) or unusable. SIGKILL it (so an
    // unusable one cannot take the EOF as "creator gone" and unlink live names), reap it (it is
    // our unreaped child, so the pid cannot have been reused), close our end.
    private static void CloseAndReap()
    {
        if (s_pid > 0 && IsOurChild(s_pid))  // not reaped behind our back (SIGCHLD ignored): the pid is still ours
        {
            Libc.Kill(s_pid, Libc.SIGKILL);
            Spawner.WaitExit(s_pid);  // at once: it is dead or dying (null if someone else reaped it)
        }
        s_pid = 0;
        if (s_fd >= 0)
        {
            FdIO.CloseQuietly(s_fd);
            s_fd = -1;
        }
    }

    private static bool IsOurChild(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return rest.Length > 1 && rest[1] == Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return false;  // gone: nothing to kill or reap
        }
    }

    private static bool Send(byte op, byte kind, string name)
    {
        int n = Encoding.UTF8.GetByteCount(name);
        byte[] record = new byte[n + 3];
        record[0] = op;
        record[1] = kind;
        Encoding.UTF8.GetBytes(name, record.AsSpan(2));
        record[^1] = 0;
        fixed (byte* p = record)
        {
            int done = 0;
            while (done < record.Length)
            {
                nint w = Libc.Write(s_fd, p + done, record.Length - done);
                if (w > 0)
                {
                    done += (int)w;
                }
                else if (w < 0 && Libc.Errno == Libc.EINTR)
                {
                    continue;
                }
                else
                {
                    return false;
                }
            }
        }
        return true;
    }

    /// <summary>The tracker's command line: the Bridge apphost beside Bridge.dll, else <c>dotnet Bridge.dll</c>.</summary>
    internal static string[]? Command()
    {
        string self = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string? asmDir = Path.GetDirectoryName(typeof(ResourceTracker).Assembly.Location);
        foreach (var dir in new[] { asmDir, AppContext.BaseDirectory })
        {
            if (string.IsNullOrEmpty(dir))
            {
                continue;
            }
            string apphost = Path.Combine(dir, "Bridge");
            if (File.Exists(apphost))
            {
                return [apphost, "tracker", self];
            }
            string dll = Path.Combine(dir, "Bridge.dll");
            if (File.Exists(dll))
            {
                return ["dotnet", dll, "tracker", self];
            }
        }
        return null;
    }

    // Under s_lock: pipe, posix_spawn with the read end as stdin, keep the write end (O_CLOEXEC).
    private static bool Start()
    {
        string[]? argv = Command();
        if (argv is null)
        {
            return GiveUp("no Bridge apphost or Bridge.dll beside " + typeof(ResourceTracker).Assembly.Location);
        }
        int* fds = stackalloc int[2];
        if (Libc.Pipe2(fds, Libc.O_CLOEXEC) != 0)
        {
            return GiveUp("pipe2: " + Libc.Describe(Libc.Errno));
        }
        int readEnd = fds[0], writeEnd = fds[1];
        if (readEnd <= 2)
        {
            // dup2(0, 0) would keep O_CLOEXEC: move it out of the way first
            int moved = Libc.Fcntl(readEnd, Libc.F_DUPFD_CLOEXEC, 10);
            Libc.Close(readEnd);
            readEnd = moved;
        }
        int pid = SpawnWithStdin(argv, readEnd, out int error);
        FdIO.CloseQuietly(readEnd);
        if (pid <= 0)
        {
            FdIO.CloseQuietly(writeEnd);
            return GiveUp($"cannot start '{argv[0]}': {Libc.Describe(error)}");
        }
        s_fd = writeEnd;
        s_pid = pid;
        return true;
    }

    private static bool GiveUp(string why)
    {
        s_off = true;
        try
        {
            Console.Error.WriteLine($"dotbridge: resource tracker not started ({why}); names this process creates are unlinked at a normal exit only");
        }
        catch (IOException)
        {
            // stderr closed: nothing more to say
        }
        return false;
    }

    private static int SpawnWithStdin(string[] argv, int stdinFd, out int error)
    {
        var mem = new List<nint>();
        void* fa = NativeMemory.AllocZeroed(256);
        void* attr = NativeMemory.AllocZeroed(512);
        void* sigs = NativeMemory.AllocZeroed(128);
        try
        {
            Libc.FileActionsInit(fa);
            Libc.FileActionsAddDup2(fa, stdinFd, 0);
            Libc.FileActionsAddOpen(fa, 1, Spawner.Utf8("/dev/null", mem), 1 /* O_WRONLY */, 0);
            Libc.SpawnAttrInit(attr);
            Libc.SpawnAttrSetFlags(attr, Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETSIGDEF);
            // SIGINT, SIGTERM and SIGHUP start blocked (as CPython's tracker is spawned): one sent to
            // the process group while the tracker's runtime starts stays pending, not fatal; the
            // tracker then cancels them (TrackerProcess.Run).
            Libc.SigEmptySet(sigs);
            SigAddSet(sigs, 1);
            SigAddSet(sigs, 2);
            SigAddSet(sigs, 15);
            Libc.SpawnAttrSetSigMask(attr, sigs);
            Libc.SigFillSet(sigs);
            Libc.SpawnAttrSetSigDefault(attr, sigs);
            byte** cargv = (byte**)NativeMemory.AllocZeroed((nuint)(argv.Length + 1), (nuint)sizeof(nint));
            mem.Add((nint)cargv);
            for (int i = 0; i < argv.Length; i++)
            {
                cargv[i] = Spawner.Utf8(argv[i], mem);
            }
            byte** envp = BuildEnvironment(mem);
            int pid;
            error = argv[0].Contains('/')
                ? Libc.PosixSpawn(&pid, cargv[0], fa, attr, cargv, envp)
                : Libc.PosixSpawnp(&pid, cargv[0], fa, attr, cargv, envp);
            return error == 0 ? pid : -1;
        }
        finally
        {
            Libc.FileActionsDestroy(fa);
            Libc.SpawnAttrDestroy(attr);
            NativeMemory.Free(fa);
            NativeMemory.Free(attr);
            NativeMemory.Free(sigs);
            foreach (var p in mem)
            {
                NativeMemory.Free((void*)p);
            }
        }
    }

    // environ, plus DOTNET_EnableDiagnostics=0 unless set (nothing listens: no diagnostics socket).
    private static byte** BuildEnvironment(List<nint> mem)
    {
        var entries = new List<nint>();
        bool diagnostics = false;
        byte** env = Libc.Environ;
        if (env != null)
        {
            for (byte** e = env; *e != null; e++)
            {
                diagnostics |= MemoryMarshal.CreateReadOnlySpanFromNullTerminated(*e).StartsWith("DOTNET_EnableDiagnostics="u8);
                entries.Add((nint)(*e));
            }
        }
        if (!diagnostics)
        {
            entries.Add((nint)Spawner.Utf8("DOTNET_EnableDiagnostics=0", mem));
        }
        byte** envp = (byte**)NativeMemory.AllocZeroed((nuint)(entries.Count + 1), (nuint)sizeof(nint));
        mem.Add((nint)envp);
        for (int i = 0; i < entries.Count; i++)
        {
            envp[i] = (byte*)entries[i];
        }
        return envp;
    }

}
