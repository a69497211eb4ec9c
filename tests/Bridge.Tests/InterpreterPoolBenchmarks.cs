using System.Diagnostics;

namespace Bridge.Tests;

/// <summary>
/// Interpreter workers against process workers (prints figures; asserts nothing about speed). Run:
/// <code>dotnet test tests/Bridge.Tests --artifacts-path /tmp/art-bench --filter "FullyQualifiedName~InterpreterPoolBenchmarks" --logger "console;verbosity=detailed"</code>
/// Targets (issue "interpreter workers"): 2 interpreters ≥ 1.7× one interpreter on CPU-bound pure Python; start-up of an
/// interpreter worker ≤ 1/5 of a process worker's. Process workers run the repo's .venv Python (3.11, which has
/// msgpack); interpreter workers the 3.12+/3.13 library of <see cref="InterpreterPoolTests.LibPython"/>, so the
/// pure-Python speed of the two versions differs a little as well.
/// </summary>
[Explicit("Benchmark: prints timings")]
[NonParallelizable] // measures the machine's cores
public sealed class InterpreterPoolBenchmarks : ProcessPoolTestBase
{
    private const string Module = """
        def spin(n):
            s = 0
            for i in range(n):
                s += i * i
            return s
        """;

    private static string ModuleDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dotbridge-interp-bench");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "interp_bench.py"), Module);
        return dir;
    }

    private static void Report(string line)
    {
        TestContext.Progress.WriteLine(line);
        TestContext.Out.WriteLine(line);
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs[xs.Count / 2];
    }

    [Test]
    public async Task Cpu_bound_speed_up_startup_and_per_task_overhead()
    {
        InterpreterPoolTests.RequireInterpreters();
        string dir = ModuleDir();
        var items = Enumerable.Repeat(300_000L, 24).ToArray();
        const int rounds = 3;

        async Task<double> TimeInterp(int n)
        {
            await using var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = n, PythonPath = { dir } });
            await pool.MapAsync<long, long>("interp_bench:spin", [10L, 10L], 1, Timeout);
            var times = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                var sw = Stopwatch.StartNew();
                await pool.MapAsync<long, long>("interp_bench:spin", items, 1, Timeout);
                times.Add(sw.Elapsed.TotalSeconds);
            }
            return Median(times);
        }

        double one = await TimeInterp(1);
        double twoInterp = await TimeInterp(2);
        double twoProc = double.NaN;
        var opts = PoolOptions(2);
        opts.PythonPath.Add(dir);
        await using (var pool = new ProcessPool(opts))
        {
            await pool.MapAsync<long, long>("interp_bench:spin", [10L, 10L], 1, Timeout);
            var times = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                var sw = Stopwatch.StartNew();
                await pool.MapAsync<long, long>("interp_bench:spin", items, 1, Timeout);
                times.Add(sw.Elapsed.TotalSeconds);
            }
            twoProc = Median(times);
        }
        Report($"CPU-bound spin(300000) x {items.Length}, median of {rounds}: 1 interpreter {one:F3} s | 2 interpreter workers {twoInterp:F3} s ({one / twoInterp:F2}x, target >= 1.7x) | 2 process workers {twoProc:F3} s ({one / twoProc:F2}x)");

        // Start-up: a new pool with one worker until its first result.
        var interpStart = new List<double>();
        var procStart = new List<double>();
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            await using (var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1 }))
            {
                await pool.ApplyAsync<long>("builtins:abs", [-1L], Timeout);
                interpStart.Add(sw.Elapsed.TotalMilliseconds);
            }
            sw.Restart();
            await using (var pool = new ProcessPool(PoolOptions(1)))
            {
                await pool.ApplyAsync<long>("builtins:abs", [-1L], Timeout);
                procStart.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        double si = Median(interpStart), sp = Median(procStart);
        Report($"start-up to first result, median of 5: interpreter worker {si:F1} ms | process worker {sp:F1} ms (ratio {si / sp:F2}, target <= 0.20)");

        // Per-task overhead: sequential round trips of a trivial call.
        const int calls = 2000;
        double perInterp, perProc;
        await using (var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 2 }))
        {
            for (int i = 0; i < 200; i++) await pool.ApplyAsync<long>("builtins:abs", [-1L], Timeout);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) await pool.ApplyAsync<long>("builtins:abs", [(long)-i], Timeout);
            perInterp = sw.Elapsed.TotalMicroseconds / calls;
        }
        await using (var pool = new ProcessPool(PoolOptions(2)))
        {
            for (int i = 0; i < 200; i++) await pool.ApplyAsync<long>("builtins:abs", [-1L], Timeout);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) await pool.ApplyAsync<long>("builtins:abs", [(long)-i], Timeout);
            perProc = sw.Elapsed.TotalMicroseconds / calls;
        }
        Report($"per-task round trip (ApplyAsync of builtins:abs, {calls} sequential): interpreter workers {perInterp:F1} us | process workers {perProc:F1} us");
        Assert.That(one, Is.GreaterThan(0));
    }
}
