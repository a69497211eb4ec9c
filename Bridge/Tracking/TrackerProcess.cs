using System.Runtime.InteropServices;
using System.Text;
using Bridge.Internal;
using Bridge.Transport;

namespace Bridge.Tracking;

/// <summary>
/// The tracker process (<c>Bridge tracker &lt;creator-pid&gt;</c>): reads REGISTER/UNREGISTER
/// records on stdin (see the design notes in ResourceTracker.cs) and, when stdin reaches EOF or its
/// parent is no longer the creator, unlinks every name still registered and exits.
/// </summary>
/// <remarks>
/// SIGINT, SIGTERM and SIGHUP are ignored (a Ctrl-C or a hang-up reaching the whole process group
/// must not kill the tracker before the creator's names are cleaned up), as CPython's tracker does
/// for SIGINT and SIGTERM: ResourceTracker spawns it with them blocked, and the registrations here
/// cancel them should anything unblock them. It starts no process, so it leaves no zombie; it reads nothing but its
/// pipe and touches nothing but <c>/dev/shm</c> names it was given.
/// </remarks>
internal static unsafe partial class TrackerProcess
{
    /// <summary>How often the parent is checked while the pipe is quiet.</summary>
    private const int PollMilliseconds = 250;

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentPid();

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Unlink(string path);

    /// <summary>Runs the tracker; <paramref name="args"/> are what follows <c>tracker</c> (the creator's pid).</summary>
    /// <returns>The exit code: 0.</returns>
    public static int Run(ReadOnlySpan<string> args)
    {
        int creator = args.Length > 0 && int.TryParse(args[0], out int c) ? c : 0;
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, static ctx => ctx.Cancel = true);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, static ctx => ctx.Cancel = true);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, static ctx => ctx.Cancel = true);
        var names = new HashSet<(byte Kind, string Name)>();
        var parser = new RecordParser(names);
        byte* buf = stackalloc byte[4096];
        var pfd = new Libc.PollFd { Fd = 0, Events = Libc.POLLIN };
        bool orphaned = false;
        while (true)
        {
            int r = Libc.Poll(&pfd, 1, orphaned ? 0 : PollMilliseconds);
            if (r == 0)
            {
                if (orphaned)
                {
                    break;  // drained what the dead creator wrote
                }
                orphaned = creator != 0 && GetParentPid() != creator;
                continue;
            }
            if (r < 0)
            {
                if (Libc.Errno == Libc.EINTR)
                {
                    continue;
                }
                break;
            }
            nint n = Libc.Read(0, buf, 4096);
            if (n < 0 && Libc.Errno == Libc.EINTR)
            {
                continue;
            }
            if (n <= 0)
            {
                break;  // EOF: the creator is gone (or closed us at its exit)
            }
            parser.Feed(new ReadOnlySpan<byte>(buf, (int)n));
        }
        CleanUp(creator, names);
        return 0;
    }

    private static void CleanUp(int creator, HashSet<(byte Kind, string Name)> names)
    {
        var done = new List<string>();
        foreach (var (kind, name) in names)
        {
            bool ok = kind == ResourceTracker.Segment
                ? IsPlainName(name) && Unlink("/dev/shm/" + name) == 0
                : kind == ResourceTracker.Semaphore && name.Length > 1 && name.IndexOf('/', 1) < 0
                  && PosixSemaphore.SemUnlink(name) == 0;
            if (ok)
            {
                done.Add(kind == ResourceTracker.Segment ? name : "sem " + name);
            }
        }
        if (done.Count > 0)
        {
            try
            {
                Console.Error.WriteLine(
                    $"dotbridge resource tracker: process {creator} ended without unlinking {done.Count} shared memory name(s); unlinked: "
                    + string.Join(", ", done.Take(8)) + (done.Count > 8 ? ", ..." : ""));
            }
            catch (IOException)
            {
                // no stderr: the clean-up is what matters
            }
        }
    }

    private static bool IsPlainName(string name) =>
        name.Length > 0 && !name.Contains('/') && name is not ("." or "..");

    /// <summary>Splits the byte stream into records: op ('R'/'U'), kind, UTF-8 name, NUL.</summary>
    private sealed class RecordParser(HashSet<(byte Kind, string Name)> names)
    {
        private readonly List<byte> _partial = [];

        public void Feed(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                int nul = data.IndexOf((byte)0);
                if (nul < 0)
                {
                    _partial.AddRange(data);
                    return;
                }
                ReadOnlySpan<byte> record;
                byte[]? joined = null;
                if (_partial.Count > 0)
                {
                    _partial.AddRange(data[..nul]);
                    joined = [.. _partial];
                    _partial.Clear();
                    record = joined;
                }
                else
                {
                    record = data[..nul];
                }
                Apply(record);
                data = data[(nul + 1)..];
            }
        }

        private void Apply(ReadOnlySpan<byte> record)
        {
            if (record.Length < 3)
            {
                return;  // not a record we write: ignore
            }
            var key = (record[1], Encoding.UTF8.GetString(record[2..]));
            if (record[0] == (byte)'R')
            {
                names.Add(key);
            }
            else if (record[0] == (byte)'U')
            {
                names.Remove(key);
            }
        }
    }
}
