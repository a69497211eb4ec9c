// Interpreter workers (Bridge.InterpreterPool) against process workers (Bridge.ProcessPool) and one
// in-process interpreter (Bridge.Interop): the figures of scripts/bench's "interp_*" rows. Last line: JSON.
//
//   dotnet run -c Release --project tests/InterpreterBench -- --python .venv/bin/python [--quick]
//
// Interpreter workers and the in-process interpreter load the Python 3.12+ library of
// DOTBRIDGE_INTERP_LIBPYTHON, else pyenv's newest 3.13, else 3.12 (none: the JSON is {"skipped": ...}).
// Process workers run --python (else DOTBRIDGE_PYTHON; it needs msgpack: the repo's .venv, Debian's 3.11).
//
// Start-up of a worker, the same definition for both kinds: from asking for it (constructing a pool of one
// worker) until it is ready to run a task, i.e. until its first result (builtins.abs(-1)) is back in the
// caller; the pool is disposed outside the timed part. Every Python is already loaded and one pool of each
// kind has run before (as in a program that has started; the very first interpreter pool is reported apart).
// Interpreter workers twice: cold (UseSpare = false, a new sub-interpreter) and by default (the pool adopts
// the spare interpreter that the previous pool left; see Interop/SubInterpreters/README.md).
// Pools of 2, per worker: from construction until both workers have run a task (four tasks that each wait,
// polling every 0.5 ms, until two distinct workers have checked in), divided by 2; by default, after a pool of 2
// (which leaves two spares: a program keeps as many as its last pool had workers).
using System.Diagnostics;
using System.Text.Json;
using Bridge;
using Bridge.Interop;

bool quick = args.Contains("--quick");
var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10)).Token;

string? lib = LibPython();
string? why = null;
// The executable beside the library (not DOTBRIDGE_PYTHON, which is the process workers' Python) gives sys.path.
string? sibling = lib is null ? null : Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(lib))!, "bin", Path.GetFileNameWithoutExtension(lib)["lib".Length..]);
var pythonOptions = new PythonOptions { LibraryPath = lib, Executable = File.Exists(sibling) ? sibling : null };
if (lib is null || !InterpreterPool.IsSupported(pythonOptions, out why))
{
    string reason = lib is null ? "no Python 3.12+" : "no Python 3.12+ (" + why + ")";
    Console.WriteLine(reason);
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["skipped"] = reason }));
    return 0;
}
int pyArg = Array.IndexOf(args, "--python");
string python = pyArg >= 0 && pyArg + 1 < args.Length ? args[pyArg + 1]
    : Environment.GetEnvironmentVariable("DOTBRIDGE_PYTHON") is { Length: > 0 } p ? p : "python3";

string dir = Directory.CreateTempSubdirectory("dotbridge-interp-bench-").FullName;
try
{
    File.WriteAllText(Path.Combine(dir, "interp_bench.py"), """
        def spin(n):
            s = 0
            for i in range(n):
                s += i * i
            return s


        import os, time, _thread


        def ready():
            return 1


        def meet(path, n=2):
            me = f'{os.getpid()}-{_thread.get_ident()}'
            if not os.path.exists(os.path.join(path, me)):
                open(os.path.join(path, me), 'w').close()
            end = time.monotonic() + 20
            while len(os.listdir(path)) < n:
                if time.monotonic() > end:
                    raise TimeoutError('the other worker never arrived')
                time.sleep(0.0005)
            return me
        """);
    var figures = new Dictionary<string, object>
    {
        ["python_interpreters"] = PythonRuntime.VersionString.Split(' ')[0],
        ["python_processes"] = python,
    };
    InterpreterPoolOptions InterpOptions(int n) => new() { Interpreters = n, PythonPath = { dir } };
    ProcessPoolOptions ProcOptions(int n) => new() { Processes = n, PythonExecutable = python, PythonPath = { dir } };

    // ---- start-up. First pools of the process (JIT, the bootstrap's one-time compile); then, alternating with
    // pauses of 50 ms (200 ms before a default pool: the spare left by the previous one is ready by then; nothing
    // runs in the background while the next pool is timed): cold interpreter workers (UseSpare = false: a fresh sub-interpreter
    // each), interpreter workers as a program gets them by default (a pool adopts the spare interpreter the previous
    // one left), process workers.
    int rounds = quick ? 7 : 15;
    var sw = Stopwatch.StartNew();
    await using (var first = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, UseSpare = false }))
    {
        await first.ApplyAsync<long>("builtins:abs", [-1L], timeout);
        figures["startup_first_interpreter_ms"] = Math.Round(sw.Elapsed.TotalMilliseconds, 2);
    }
    await using (var warm = new ProcessPool(ProcOptions(1)))
    {
        await warm.ApplyAsync<long>("builtins:abs", [-1L], timeout);
    }
    var coldStart = new List<double>();
    var spareStart = new List<double>();
    var procStart = new List<double>();
    var coldMod = new List<double>();
    var spareMod = new List<double>();
    var procMod = new List<double>();
    var cold2 = new List<double>();
    var spare2 = new List<double>();
    var proc2 = new List<double>();
    for (int r = 0; r < rounds; r++)
    {
        coldStart.Add(await StartUpMs(() => new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, UseSpare = false }), (pool, ct) => pool.ApplyAsync<long>("builtins:abs", [-1L], ct)));
        await Task.Delay(200); // the spare that the previous default pool left is surely ready
        spareStart.Add(await StartUpMs(() => new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1 }), (pool, ct) => pool.ApplyAsync<long>("builtins:abs", [-1L], ct)));
        await Task.Delay(50);
        procStart.Add(await StartUpMs(() => new ProcessPool(ProcOptions(1)), (pool, ct) => pool.ApplyAsync<long>("builtins:abs", [-1L], ct)));
        await Task.Delay(50);
        // The same with a first task from a module of the user's (it imports os, as nearly every module does:
        // a process worker has it already; a cold interpreter worker imports it then, as `site` is not run).
        coldMod.Add(await StartUpMs(() => new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, UseSpare = false, PythonPath = { dir } }), (pool, ct) => pool.ApplyAsync<long>("interp_bench:ready", [], ct)));
        await Task.Delay(200);
        spareMod.Add(await StartUpMs(() => new InterpreterPool(InterpOptions(1)), (pool, ct) => pool.ApplyAsync<long>("interp_bench:ready", [], ct)));
        await Task.Delay(50);
        procMod.Add(await StartUpMs(() => new ProcessPool(ProcOptions(1)), (pool, ct) => pool.ApplyAsync<long>("interp_bench:ready", [], ct)));
        await Task.Delay(50);
        if (r % 2 == 1 && !quick || r < 3)
        {
            cold2.Add(await PairStartUpMs(() => new InterpreterPool(new InterpreterPoolOptions { Interpreters = 2, PythonPath = { dir }, UseSpare = false }), (pool, meet, ct) => pool.MapAsync<string, string>("interp_bench:meet", meet, 1, ct)));
            // As in a program that has made a pool of 2 before: that pool left two spares (untimed here).
            await using (var previous = new InterpreterPool(InterpOptions(2)))
            {
                await previous.ApplyAsync<long>("builtins:abs", [-1L], timeout);
            }
            await Task.Delay(200);
            spare2.Add(await PairStartUpMs(() => new InterpreterPool(InterpOptions(2)), (pool, meet, ct) => pool.MapAsync<string, string>("interp_bench:meet", meet, 1, ct)));
            await Task.Delay(50);
            proc2.Add(await PairStartUpMs(() => new ProcessPool(ProcOptions(2)), (pool, meet, ct) => pool.MapAsync<string, string>("interp_bench:meet", meet, 1, ct)));
            await Task.Delay(50);
        }
    }
    double sc = Median(coldStart), ss = Median(spareStart), sp = Median(procStart);
    figures["startup_interpreter_cold_ms"] = Math.Round(sc, 2);
    figures["startup_interpreter_ms"] = Math.Round(ss, 2);
    figures["startup_process_ms"] = Math.Round(sp, 2);
    Console.WriteLine($"start-up of one worker (pool of 1 until its first result), median of {rounds}: interpreter, cold {sc:F2} ms ({sc / sp:F3}x) | interpreter, adopting the spare {ss:F2} ms ({ss / sp:F3}x) | process {sp:F2} ms (target <= 0.2x); first interpreter pool of the process {figures["startup_first_interpreter_ms"]} ms");
    double mc = Median(coldMod), ms = Median(spareMod), mp = Median(procMod);
    figures["startup_module_interpreter_cold_ms"] = Math.Round(mc, 2);
    figures["startup_module_interpreter_ms"] = Math.Round(ms, 2);
    figures["startup_module_process_ms"] = Math.Round(mp, 2);
    Console.WriteLine($"the same, first task from a user module that imports os: interpreter, cold {mc:F2} ms ({mc / mp:F3}x) | interpreter, adopting the spare {ms:F2} ms ({ms / mp:F3}x) | process {mp:F2} ms");
    double sc2 = Median(cold2), ss2 = Median(spare2), sp2 = Median(proc2);
    figures["startup2_interpreter_cold_ms_per_worker"] = Math.Round(sc2, 2);
    figures["startup2_interpreter_ms_per_worker"] = Math.Round(ss2, 2);
    figures["startup2_process_ms_per_worker"] = Math.Round(sp2, 2);
    Console.WriteLine($"start-up per worker, pools of 2 (until both workers have run a task, / 2), median of {cold2.Count}: interpreter, cold {sc2:F2} ms ({sc2 / sp2:F3}x) | interpreter, adopting the 2 spares the previous pool of 2 left {ss2:F2} ms ({ss2 / sp2:F3}x) | process {sp2:F2} ms");

    // ---- per-task overhead: sequential ApplyAsync of a trivial builtin on 2 workers. A ping-pong's latency swings
    // with where the scheduler puts the threads (14-38 us for either kind between runs), so the two pools run in
    // alternating blocks of 250 calls and each side's figure is the median of its block medians.
    int calls = quick ? 500 : 2000;
    double perInterp, perProc;
    await using (var interpPool = new InterpreterPool(InterpOptions(2)))
    await using (var procPool = new ProcessPool(ProcOptions(2)))
    {
        var interpBlocks = new List<double>();
        var procBlocks = new List<double>();
        Func<Task<long>> interpCall = () => interpPool.ApplyAsync<long>("builtins:abs", [-1L], timeout);
        Func<Task<long>> procCall = () => procPool.ApplyAsync<long>("builtins:abs", [-1L], timeout);
        for (int i = 0; i < 200; i++)
        {
            await interpCall();
            await procCall();
        }
        for (int block = 0; block < calls / 250; block++)
        {
            interpBlocks.Add(await MedianMicroseconds(interpCall, 250));
            procBlocks.Add(await MedianMicroseconds(procCall, 250));
        }
        perInterp = Median(interpBlocks);
        perProc = Median(procBlocks);
    }
    figures["per_task_interpreter_us"] = Math.Round(perInterp, 1);
    figures["per_task_process_us"] = Math.Round(perProc, 1);
    Console.WriteLine($"per task (sequential ApplyAsync of builtins:abs, {calls} calls each in alternating blocks of 250, median of block medians): interpreter workers {perInterp:F1} us | process workers {perProc:F1} us");

    // ---- CPU-bound pure Python over many inputs
    long n = 300_000;
    var items = Enumerable.Repeat(n, quick ? 8 : 24).ToArray();
    int cpuRounds = quick ? 3 : 9;
    // Rounds alternate between the three (medians), so that a burst of other load on the machine hits all of them.
    var inProcTimes = new List<double>();
    var interpTimes = new List<double>();
    var procTimes = new List<double>();
    using (Gil.Acquire())
    {
        Py.AddToSysPath(dir);
    }
    // One pool alive at a time (an idle process pool's workers and readers are not quite idle), made per round.
    for (int r = 0; r < cpuRounds; r++)
    {
        using (Gil.Acquire())
        {
            using var module = Py.Import("interp_bench");
            using var spin = module.GetAttr("spin");
            var t = Stopwatch.StartNew();
            foreach (long x in items) spin.Call<long>(x);
            inProcTimes.Add(t.Elapsed.TotalSeconds);
        }
        await using (var interpPool = new InterpreterPool(InterpOptions(2)))
        {
            await interpPool.MapAsync<long, long>("interp_bench:spin", [1L, 1L, 1L, 1L], 1, timeout); // warm-up: started, module imported
            // The spares this pool leaves (start-up's job, measured above) are made in the background right after it
            // starts, on one core for about 25 ms: let them finish so the timed part is the parallel work only.
            await Task.Delay(150, timeout);
            var ti = Stopwatch.StartNew();
            await interpPool.MapAsync<long, long>("interp_bench:spin", items, 1, timeout);
            interpTimes.Add(ti.Elapsed.TotalSeconds);
        }
        await using (var procPool = new ProcessPool(ProcOptions(2)))
        {
            await procPool.MapAsync<long, long>("interp_bench:spin", [1L, 1L, 1L, 1L], 1, timeout);
            var tp = Stopwatch.StartNew();
            await procPool.MapAsync<long, long>("interp_bench:spin", items, 1, timeout);
            procTimes.Add(tp.Elapsed.TotalSeconds);
        }
    }
    // The machine's speed drifts between rounds (the same single-threaded loop took 0.28-0.41 s within a minute), so
    // the speed-up is paired: each round's in-process time over its own 2-worker time, and the figures are those of
    // the round whose ratio is the median.
    var order = Enumerable.Range(0, cpuRounds).OrderBy(r => inProcTimes[r] / interpTimes[r]).ToList();
    int mid = order[order.Count / 2];
    double inProc = inProcTimes[mid], twoInterp = interpTimes[mid], twoProc = procTimes[mid];
    Console.WriteLine("speed-up per round: " + string.Join(" ", order.Select(r => $"{inProcTimes[r] / interpTimes[r]:F2}")));
    figures["cpu_items"] = items.Length;
    figures["cpu_inprocess_s"] = Math.Round(inProc, 3);
    figures["cpu_2_interpreters_s"] = Math.Round(twoInterp, 3);
    figures["cpu_2_processes_s"] = Math.Round(twoProc, 3);
    Console.WriteLine($"CPU-bound spin({n}) x {items.Length}, the round with the median speed-up of {cpuRounds}: 1 in-process interpreter {inProc:F3} s | 2 interpreter workers {twoInterp:F3} s ({inProc / twoInterp:F2}x, target >= 1.7x) | 2 process workers {twoProc:F3} s");
    Console.WriteLine(JsonSerializer.Serialize(figures));
    return 0;

    async Task<double> StartUpMs<TPool>(Func<TPool> create, Func<TPool, CancellationToken, Task<long>> first) where TPool : IAsyncDisposable
    {
        var t = Stopwatch.StartNew();
        var pool = create();
        try
        {
            await first(pool, timeout);
            return t.Elapsed.TotalMilliseconds;
        }
        finally
        {
            await pool.DisposeAsync();
        }
    }

    // Four "meet" tasks that each return only once two distinct workers have registered in a fresh directory.
    async Task<double> PairStartUpMs<TPool>(Func<TPool> create, Func<TPool, string[], CancellationToken, Task<string[]>> meet) where TPool : IAsyncDisposable
    {
        string rendezvous = Directory.CreateDirectory(Path.Combine(dir, "meet-" + Guid.NewGuid().ToString("N"))).FullName;
        var t = Stopwatch.StartNew();
        var pool = create();
        try
        {
            var who = await meet(pool, [rendezvous, rendezvous, rendezvous, rendezvous], timeout);
            double ms = t.Elapsed.TotalMilliseconds / 2;
            if (who.Distinct().Count() != 2) throw new InvalidOperationException("the meet tasks did not run on two workers: " + string.Join(", ", who));
            return ms;
        }
        finally
        {
            await pool.DisposeAsync();
        }
    }
}
finally
{
    Directory.Delete(dir, true);
}

static async Task<double> MedianMicroseconds(Func<Task<long>> call, int calls)
{
    for (int i = 0; i < 20; i++) await call();
    var samples = new double[calls];
    for (int i = 0; i < calls; i++)
    {
        long start = Stopwatch.GetTimestamp();
        await call();
        samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }
    return Median([.. samples]);
}

static double Median(List<double> xs)
{
    xs.Sort();
    return xs.Count % 2 == 1 ? xs[xs.Count / 2] : (xs[xs.Count / 2 - 1] + xs[xs.Count / 2]) / 2;
}

// The Python 3.12+ shared library to load (as tests/Bridge.Tests' InterpreterPoolTests.LibPython).
static string? LibPython()
{
    string? env = Environment.GetEnvironmentVariable("DOTBRIDGE_INTERP_LIBPYTHON");
    if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
    string root = Environment.GetEnvironmentVariable("PYENV_ROOT") is { Length: > 0 } r ? r : "/root/.pyenv";
    string versions = Path.Combine(root, "versions");
    if (!Directory.Exists(versions)) return null;
    foreach (string minor in new[] { "3.13", "3.12" })
    {
        foreach (var v in Directory.GetDirectories(versions, minor + ".*").OrderDescending())
        {
            string so = Path.Combine(v, "lib", $"libpython{minor}.so");
            if (File.Exists(so)) return so;
        }
    }
    return null;
}
