// A C# parent for the fault tests (see FaultHost.csproj). Prints one JSON line, then waits to be
// killed (at most 120 s, then exits by itself):
//
//   FaultHost pool     a ProcessPool with Python and .NET workers busy with long tasks, a
//                      SharedMemorySegment, a SharedLock and a SharedValue<long> (env
//                      DOTBRIDGE_PYTHON: a Python with msgpack)
//                      -> {"pids": [every child], "names": [its /dev/shm names], "tracker": pid}
//   FaultHost create   only the segment, the lock and the value (no pool, no Python); prints
//                      right after creating them (a kill then lands while the tracker starts)
//   FaultHost signals  as create, but right after the first Create sends SIGINT, SIGTERM and
//                      SIGHUP to its tracker (still starting: it must survive them); -> "old_tracker"
//   FaultHost exit     as create, then returns at once (ProcessExit unlinks the names)
//   FaultHost restart  as create, then SIGKILLs its tracker and creates one more segment (the
//                      next Create starts a new tracker and registers every live name again)
//                      -> also "old_tracker"
//   FaultHost idle     creates nothing (so starts no tracker)
//   FaultHost fake F   runs a ProcessPool whose .NET worker is the fake F
//                      (tests/faults/fake_dotnet_worker.py, run by /usr/bin/python3 or $FAKE_PYTHON):
//                      each bad frame / exit mid-task once, then 80 good calls around one garbage
//                      frame -> {"faults", "tasks", "ended", "lost", "hangs", "bad_frames", "details"}
//   FaultHost time N   times N rounds of Create+Unlink of a segment and of a lock; the first
//                      Create of each starts the tracker (DOTBRIDGE_TRACKER=0: no tracker)
//                      -> {"first_segment_us": .., "first_lock_us": .., "segment_us": .., "lock_us": ..}
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Bridge;

string mode = args.Length > 0 ? args[0] : "pool";
if (mode == "time")
{
    return Time(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1000);
}
if (mode == "fake")
{
    return await Fake(args[1]);
}

ProcessPool? pool = null;
var pending = new List<Task>();
if (mode == "pool")
{
    pool = new ProcessPool(new ProcessPoolOptions { Processes = 2 });
    // both kinds up, then busy: two long calls of each kind in flight when the kill comes
    await pool.ApplyAsync<long>("builtins:abs", -1L).WaitAsync(TimeSpan.FromSeconds(60));
    await pool.ApplyAsync<bool>(DotNetMethod.Of("Bridge.Samples.Primes.IsPrime"), 7L).WaitAsync(TimeSpan.FromSeconds(60));
    for (int i = 0; i < 2; i++)
    {
        pending.Add(pool.ApplyAsync<object?>("time:sleep", 100.0));
        pending.Add(pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), 0L, 4_000_000_000L));
    }
}
else if (mode == "idle")
{
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["pid"] = Environment.ProcessId,
        ["pids"] = Children(Environment.ProcessId),
        ["names"] = Array.Empty<string>(),
        ["tracker"] = Tracker(Environment.ProcessId),
    }));
    Console.Out.Flush();
    await Task.Delay(TimeSpan.FromSeconds(120));
    return 0;
}
else if (mode is not ("create" or "exit" or "restart" or "signals"))
{
    Console.Error.WriteLine($"FaultHost: unknown mode '{mode}' (pool, create, signals, exit, restart, idle, time N)");
    return 64;
}

int oldTracker = 0;
var segment = SharedMemorySegment.Create(4096);
if (mode == "signals")
{
    // the tracker is the only child this thread started: /proc/self/task/<tid>/children
    foreach (var child in File.ReadAllText($"/proc/self/task/{Environment.ProcessId}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries))
    {
        int pid = int.Parse(child, CultureInfo.InvariantCulture);
        oldTracker = pid;  // printed as "old_tracker": the tracker must still be this one
        SendSignal(pid, 2);
        SendSignal(pid, 15);
        SendSignal(pid, 1);
    }
}
var sharedLock = SharedLock.Create();
var value = SharedValue<long>.Create(7);
segment.AsSpan()[0] = 42;
var names = new[] { segment.Name, "sem." + sharedLock.Name.TrimStart('/') }
    .Concat(DescriptorNames(value.Descriptor.ToString())).ToList();
SharedMemorySegment? late = null;
if (mode == "restart")
{
    oldTracker = Tracker(Environment.ProcessId);
    Process.GetProcessById(oldTracker).Kill();  // SIGKILL; the host does not reap it: the tracker client must
    // Until its end of the pipe is surely closed: its main thread a zombie and every other thread
    // released. (An exiting process's /proc/<pid>/fd goes away before the kernel releases its files,
    // and a multi-threaded process's leader turns zombie while other threads still hold them; a
    // write in that window still lands, and no restart would happen.)
    for (int i = 0; i < 500 && !Exited(oldTracker); i++)
    {
        await Task.Delay(10);
    }
    late = SharedMemorySegment.Create(4096);
    names.Add(late.Name);
}
if (pool is not null)
{
    await Task.Delay(300);  // let the workers start their long calls
}
Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
{
    ["pid"] = Environment.ProcessId,
    ["pids"] = Children(Environment.ProcessId),
    ["names"] = names,
    ["tracker"] = Tracker(Environment.ProcessId),
    ["old_tracker"] = oldTracker,
    ["old_tracker_state"] = oldTracker == 0 ? "" : State(oldTracker),
}));
Console.Out.Flush();
if (mode == "exit")
{
    return 0;
}
await Task.Delay(TimeSpan.FromSeconds(120));
GC.KeepAlive(segment);
GC.KeepAlive(sharedLock);
GC.KeepAlive(value);
GC.KeepAlive(late);
return 0;

// The /dev/shm file names in a SharedValue descriptor ("segment=db_…;…;lock=/db_…").
static IEnumerable<string> DescriptorNames(string descriptor)
{
    foreach (var field in descriptor.Split(';'))
    {
        if (field.StartsWith("segment=", StringComparison.Ordinal))
        {
            yield return field["segment=".Length..];
        }
        else if (field.StartsWith("lock=/", StringComparison.Ordinal))
        {
            yield return "sem." + field["lock=/".Length..];
        }
    }
}

static List<int> Children(int parent)
{
    var list = new List<int>();
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        if (!int.TryParse(Path.GetFileName(dir), out int pid))
        {
            continue;
        }
        try
        {
            string stat = File.ReadAllText(Path.Combine(dir, "stat"));
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (int.Parse(rest[1], CultureInfo.InvariantCulture) == parent)
            {
                list.Add(pid);
            }
        }
        catch (IOException)
        {
            // ended meanwhile
        }
    }
    return list;
}

[System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
static extern int SendSignal(int pid, int signal);

// "gone", or the state letter from /proc/<pid>/stat (Z: a zombie nobody reaped).
static string State(int pid)
{
    try
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..][..1];
    }
    catch (IOException)
    {
        return "gone";
    }
}

// True once pid's main thread is a zombie (or gone) and no other thread of it is left.
static bool Exited(int pid)
{
    if (State(pid) is not ("Z" or "gone"))
    {
        return false;
    }
    try
    {
        return Directory.GetDirectories($"/proc/{pid}/task").Length <= 1;
    }
    catch (IOException)
    {
        return true;
    }
}

// The child running "Bridge tracker <pid>" (0: none).
static int Tracker(int parent)
{
    foreach (int pid in Children(parent))
    {
        try
        {
            var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            if (argv.Contains("tracker"))
            {
                return pid;
            }
        }
        catch (IOException)
        {
            // ended meanwhile
        }
    }
    return 0;
}

static async Task<int> Fake(string script)
{
    var wait = TimeSpan.FromSeconds(30);
    string python = Environment.GetEnvironmentVariable("FAKE_PYTHON") ?? "/usr/bin/python3";
    ProcessPool NewPool(int processes)
    {
        var options = new ProcessPoolOptions { Processes = processes };
        options.DotNetWorker.Add(python);
        options.DotNetWorker.Add(script);
        return new ProcessPool(options);
    }
    Target F(string mode) => DotNetMethod.Of("Fake." + mode);
    int faults = 0, tasks = 0, ended = 0, lost = 0, hangs = 0, badFrames = 0;
    var details = new Dictionary<string, string>();
    // one call's outcome: 1 ended as expected, 0 lost (wrong result / wrong error), -1 hang
    async Task<int> Outcome<T>(Task<T> call, Func<T, bool>? ok)
    {
        try
        {
            T r = await call.WaitAsync(wait);
            return ok is not null && ok(r) ? 1 : 0;
        }
        catch (TimeoutException)
        {
            return -1;
        }
        catch (WorkerCrashedException)
        {
            return ok is null ? 1 : 0;
        }
    }
    void Count(int outcome)
    {
        tasks++;
        if (outcome > 0)
        {
            ended++;
        }
        else if (outcome == 0)
        {
            lost++;
        }
        else
        {
            hangs++;
        }
    }
    foreach (var fault in new[] { "Garbage", "Oversized", "Truncated", "NotAnArray", "WrongId", "Exit" })
    {
        await using var pool = NewPool(1);
        faults++;
        badFrames += fault == "Exit" ? 0 : 1;
        long before = await pool.ApplyAsync<long>(F("Pid")).WaitAsync(wait);
        var bad = pool.ApplyAsync<long>(F(fault), 1L);
        int o = await Outcome(bad, null);
        Count(o);
        details[fault] = o > 0 ? bad.Exception!.InnerException!.Message : o == 0 ? "no clear error" : "hang";
        // the pool keeps serving, with a new worker
        Count(await Outcome(pool.ApplyAsync<long>(F("Pid")), pid => pid != before));
    }
    {
        await using var pool = NewPool(2);
        faults++;
        badFrames++;
        var good = Enumerable.Range(0, 80).Select(i => (i, pool.ApplyAsync<long>(F("Echo"), (long)i))).ToList();
        var bad = pool.ApplyAsync<long>(F("Garbage"), -1L);
        foreach (var (i, call) in good)
        {
            int o = await Outcome(call, r => r == i);
            if (o == 0 && call.IsFaulted && call.Exception!.InnerException is WorkerCrashedException)
            {
                o = 1;  // in flight on the bad worker: a clear error
            }
            Count(o);
        }
        Count(await Outcome(bad, null));
        Count(await Outcome(pool.ApplyAsync<long>(F("Echo"), 7L), r => r == 7));
    }
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["faults"] = faults,
        ["tasks"] = tasks,
        ["ended"] = ended,
        ["lost"] = lost,
        ["hangs"] = hangs,
        ["bad_frames"] = badFrames,
        ["details"] = details,
    }));
    return 0;
}

static int Time(int rounds)
{
    var sw = Stopwatch.StartNew();
    var first = SharedMemorySegment.Create(4096);
    double firstSegment = sw.Elapsed.TotalMicroseconds;
    sw.Restart();
    var firstLock = SharedLock.Create();
    double firstLockUs = sw.Elapsed.TotalMicroseconds;
    first.Unlink();
    first.Dispose();
    firstLock.Unlink();
    firstLock.Dispose();
    sw.Restart();
    for (int i = 0; i < rounds; i++)
    {
        using var s = SharedMemorySegment.Create(4096);
        s.Unlink();
    }
    double segmentUs = sw.Elapsed.TotalMicroseconds / rounds;
    sw.Restart();
    for (int i = 0; i < rounds; i++)
    {
        using var l = SharedLock.Create();
        l.Unlink();
    }
    double lockUs = sw.Elapsed.TotalMicroseconds / rounds;
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["first_segment_us"] = Math.Round(firstSegment, 1),
        ["first_lock_us"] = Math.Round(firstLockUs, 1),
        ["segment_us"] = Math.Round(segmentUs, 2),
        ["lock_us"] = Math.Round(lockUs, 2),
        ["tracker"] = Tracker(Environment.ProcessId),
    }));
    return 0;
}
