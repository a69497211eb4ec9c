using System.Diagnostics;
using Bridge.Interop;

namespace Bridge.Tests;

/// <summary>
/// Interpreter workers (sub-interpreters with their own GIL, in this test process). CPython can be loaded once
/// per process, so these tests use one Python 3.12+ shared library: env <c>DOTBRIDGE_INTERP_LIBPYTHON</c>, else
/// pyenv's 3.13, else its 3.12 (run again with the variable set to cover the other). Without one (or when this
/// process already runs an older Python) every test is skipped with the reason.
/// </summary>
[NonParallelizable] // timing assertions; the pools compete for the same 2 cores
public sealed class InterpreterPoolTests
{
    internal const string Functions = """
        import time

        def add(a, b):
            return a + b

        def spin(n):
            s = 0
            for i in range(n):
                s += i * i
            return s

        def boom(x):
            raise ValueError(f"bad item {x}")

        def chained():
            try:
                {}['missing']
            except KeyError as e:
                raise RuntimeError('wrapped') from e

        def nap(seconds):
            time.sleep(seconds)
            return seconds

        def echo(*args):
            return list(args)

        def spin_for(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            return seconds

        def opaque():
            return object()

        def hog(seconds):
            import sys, os
            sys.setswitchinterval(100.0)
            open(_flag(), 'w').close()
            try:
                end = time.monotonic() + seconds
                n = 0
                while time.monotonic() < end:
                    n += 1
                return n
            finally:
                os.unlink(_flag())
                sys.setswitchinterval(0.005)

        def _flag():
            import os, tempfile
            return os.path.join(tempfile.gettempdir(), f'dotbridge-hog-{os.getpid()}')

        def hogging():
            import os
            return os.path.exists(_flag())

        def started():
            return 0

        def relay(inbox, outbox, n):
            import _dotbridge_channels as channels
            for _ in range(n):
                item = channels.recv(inbox, 30.0)
                channels.send(outbox, {'twice': item['x'] * 2, 'data': item['data'][::-1]})
            return n

        def recv_with_timeout(name):
            import _dotbridge_channels as channels
            try:
                channels.recv(name, 0.05)
            except TimeoutError as e:
                return str(e)
            return 'no timeout'

        def shm_sum(name, size):
            import _dotbridge_channels as channels
            shm = channels.attach(name)
            try:
                view = shm.buf[:size]
                total = sum(view)
                view[0] = 42
                view.release()
                return total
            finally:
                shm.close()

        def refuse():
            import _testsinglephase
            return 1
        """;

    private CancellationTokenSource? _timeout;

    private CancellationToken Timeout => _timeout!.Token;

    [SetUp]
    public void SetUp()
    {
        _timeout = Debugger.IsAttached ? new CancellationTokenSource() : new CancellationTokenSource(TimeSpan.FromSeconds(90));
        RequireInterpreters();
    }

    [TearDown]
    public void TearDown() => _timeout?.Dispose();

    /// <summary>The Python 3.12+ library the tests load, or null.</summary>
    internal static string? LibPython()
    {
        string? env = Environment.GetEnvironmentVariable("DOTBRIDGE_INTERP_LIBPYTHON");
        if (!string.IsNullOrEmpty(env)) return env;
        string pyenv = Environment.GetEnvironmentVariable("PYENV_ROOT") is { Length: > 0 } root ? root : "/root/.pyenv";
        foreach (var (version, short_) in new[] { ("3.13", "3.13"), ("3.12", "3.12") })
        {
            var dir = Path.Combine(pyenv, "versions");
            if (!Directory.Exists(dir)) break;
            foreach (var v in Directory.GetDirectories(dir, version + ".*").OrderDescending())
            {
                var lib = Path.Combine(v, "lib", $"libpython{short_}.so");
                if (File.Exists(lib)) return lib;
            }
        }
        return null;
    }

    /// <summary>Skips the test (with the reason) unless this process can run interpreter workers.</summary>
    internal static void RequireInterpreters()
    {
        string? lib = LibPython();
        if (!PythonRuntime.IsInitialized && lib is null)
        {
            Assert.Ignore("no Python 3.12+ shared library (set DOTBRIDGE_INTERP_LIBPYTHON): interpreter workers need 3.12+");
        }
        if (!InterpreterPool.IsSupported(new PythonOptions { LibraryPath = lib }, out string? reason))
        {
            Assert.Ignore(reason!);
        }
    }

    private static InterpreterPool NewPool(int interpreters = 2, TimeSpan? shutdown = null) => new(new InterpreterPoolOptions
    {
        Interpreters = interpreters,
        Initializer = Functions,
        ShutdownTimeout = shutdown ?? TimeSpan.FromSeconds(20),
    });

    [Test]
    public async Task Apply_returns_the_result()
    {
        await using var pool = NewPool();
        Assert.That(await pool.ApplyAsync<long>("__main__:add", [2L, 40L], Timeout), Is.EqualTo(42L));
        Assert.That(await pool.ApplyAsync<string>("builtins:str", [12.5], Timeout), Is.EqualTo("12.5"));
    }

    [Test]
    public async Task Values_round_trip_as_new_objects()
    {
        await using var pool = NewPool(1);
        var dict = new Dictionary<string, object?> { ["k"] = new object?[] { 1L, "ü", null, true } };
        var big = System.Numerics.BigInteger.Pow(2, 100);
        var result = await pool.ApplyAsync<object?[]>("__main__:echo", [new byte[] { 1, 2, 3 }, dict, big, 1.5, "x"], Timeout);
        Assert.That(result[0], Is.EqualTo(new byte[] { 1, 2, 3 }));
        var back = (Dictionary<object, object?>)result[1]!;
        Assert.That((object?[])back["k"]!, Is.EqualTo(new object?[] { 1L, "ü", null, true }));
        Assert.That(result[2], Is.EqualTo(big));
        Assert.That(result[3], Is.EqualTo(1.5));
        Assert.That(result[4], Is.EqualTo("x"));
    }

    [Test]
    public async Task Map_and_imap_keep_order()
    {
        await using var pool = NewPool();
        var items = Enumerable.Range(0, 50).Select(i => (long)i).ToArray();
        var squares = await pool.MapAsync<long, long>("__main__:spin", items, cancellationToken: Timeout);
        Assert.That(squares, Is.EqualTo(items.Select(n => Enumerable.Range(0, (int)n).Sum(i => (long)i * i))));
        var ordered = new List<long>();
        await foreach (var r in pool.ImapAsync<long, long>("builtins:abs", items.Select(x => -x), 3, Timeout)) ordered.Add(r);
        Assert.That(ordered, Is.EqualTo(items));
        var unordered = new List<long>();
        await foreach (var r in pool.ImapUnorderedAsync<long, long>("builtins:abs", items.Select(x => -x), 1, Timeout)) unordered.Add(r);
        Assert.That(unordered, Is.EquivalentTo(items));
        var sums = await pool.StarmapAsync<long>("__main__:add", [[1L, 2L], [3L, 4L]], cancellationToken: Timeout);
        Assert.That(sums, Is.EqualTo(new[] { 3L, 7L }));
        var add = pool.GetFunction<long, long, long>("__main__:add");
        Assert.That(await add(40L, 2L).WaitAsync(Timeout), Is.EqualTo(42L));
    }

    [Test]
    public async Task Each_interpreter_has_its_own_GIL()
    {
        // hog() stops offering its GIL to other threads for 100 s (sys.setswitchinterval) and spins for
        // 3 s. On a shared GIL, any other Python call would wait for the whole spin; with a GIL per
        // interpreter the second worker answers at once. Load-independent: no speed ratio is measured.
        await using var pool = NewPool(2);
        await pool.MapAsync<long, long>("builtins:abs", [1L, 2L], 1, Timeout); // both workers warm
        var hog = pool.ApplyAsync<long>("__main__:hog", [3.0], Timeout);
        await pool.ApplyAsync<long>("__main__:started", [], Timeout).WaitAsync(TimeSpan.FromSeconds(10), Timeout);
        for (int i = 0; i < 20 && !await pool.ApplyAsync<bool>("__main__:hogging", [], Timeout); i++) await Task.Delay(50, Timeout);
        Assert.That(await pool.ApplyAsync<bool>("__main__:hogging", [], Timeout), Is.True, "the spinning call started");
        var quick = pool.ApplyAsync<long>("__main__:add", [20L, 22L], Timeout);
        Assert.That(await quick.WaitAsync(TimeSpan.FromSeconds(60), Timeout), Is.EqualTo(42L));
        Assert.That(hog.IsCompleted, Is.False, "the other interpreter answered while the first one held its GIL");
        Assert.That(await hog.WaitAsync(TimeSpan.FromSeconds(60), Timeout), Is.GreaterThan(0));
    }

    [Test]
    public async Task A_raising_callable_maps_to_PythonException_with_traceback_and_index()
    {
        await using var pool = NewPool();
        var e = Assert.ThrowsAsync<PythonException>(() => pool.ApplyAsync<long>("__main__:boom", [7L], Timeout))!;
        Assert.That(e.PythonType, Is.EqualTo("builtins.ValueError"));
        Assert.That(e.Message, Does.Contain("bad item 7"));
        Assert.That(e.Traceback, Does.Contain("raise ValueError(f\"bad item {x}\")"));
        var m = Assert.ThrowsAsync<PythonException>(() => pool.MapAsync<long, long>("__main__:boom", [1L, 2L, 3L], 1, Timeout))!;
        Assert.That(m.Index, Is.EqualTo(0));
        var c = Assert.ThrowsAsync<PythonException>(() => pool.ApplyAsync<object>("__main__:chained", [], Timeout))!;
        Assert.That(c.PythonType, Is.EqualTo("builtins.RuntimeError"));
        Assert.That(c.InnerException, Is.InstanceOf<PythonException>());
        Assert.That(((PythonException)c.InnerException!).PythonType, Is.EqualTo("builtins.KeyError"));
        // The pool stays healthy.
        Assert.That(await pool.ApplyAsync<long>("__main__:add", [1L, 1L], Timeout), Is.EqualTo(2L));
    }

    [Test]
    public async Task Missing_targets_and_unconvertible_results_name_the_problem()
    {
        await using var pool = NewPool(1);
        var t = Assert.ThrowsAsync<PythonException>(() => pool.ApplyAsync<long>("no_such_module_xyz:f", [], Timeout))!;
        Assert.That(t.Kind, Is.EqualTo("target"));
        Assert.That(t.PythonType, Is.EqualTo("builtins.ModuleNotFoundError"));
        var r = Assert.ThrowsAsync<PythonException>(() => pool.ApplyAsync<object>("__main__:opaque", [], Timeout))!;
        Assert.That(r.Kind, Is.EqualTo("result"));
        Assert.That(r.Message, Does.Contain("'object'"));
        Assert.Throws<ArgumentException>(() => pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), [], Timeout));
    }

    [Test]
    public async Task A_module_that_refuses_sub_interpreters_fails_with_a_clear_error()
    {
        await using var pool = NewPool(1);
        var e = Assert.ThrowsAsync<PythonException>(() => pool.ApplyAsync<long>("__main__:refuse", [], Timeout))!;
        if (e.Message.Contains("No module named")) Assert.Ignore("this Python has no _testsinglephase test module");
        Assert.That(e.PythonType, Is.EqualTo("builtins.ImportError"));
        Assert.That(e.Message, Does.Contain("'_testsinglephase' does not support sub-interpreters"));
        Assert.That(e.Message, Does.Contain("process workers"));
        // A module that refuses fails the call, not the worker.
        Assert.That(await pool.ApplyAsync<long>("__main__:add", [1L, 2L], Timeout), Is.EqualTo(3L));
    }

    [Test]
    public async Task Dispose_with_tasks_in_flight_fails_them_promptly_and_ends_every_interpreter()
    {
        var pool = NewPool(2);
        var calls = Enumerable.Range(0, 5).Select(_ => pool.ApplyAsync<double>("__main__:nap", [4.0], Timeout)).ToList();
        await Task.Delay(300, Timeout); // two are running (or about to), three queued
        var sw = Stopwatch.StartNew();
        var disposing = Task.Run(pool.Dispose, Timeout);
        foreach (var call in calls)
        {
            Assert.ThrowsAsync<ObjectDisposedException>(async () => await call.WaitAsync(TimeSpan.FromSeconds(5), Timeout));
        }
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3.5)), "callers are not kept waiting for running Python code");
        await disposing.WaitAsync(TimeSpan.FromSeconds(30), Timeout);
        Assert.That(pool.AliveWorkers, Is.EqualTo(0));
        Assert.Throws<ObjectDisposedException>(() => pool.ApplyAsync<long>("__main__:add", [1L, 2L], Timeout));
        pool.Dispose(); // idempotent
    }

    [Test]
    public async Task Dispose_interrupts_running_Python_code_with_SystemExit()
    {
        // Two calls spin in pure Python for 60 s; the pool would wait up to 40 s (ShutdownTimeout) for them to return.
        // Disposal raises SystemExit in both, so both interpreters end within seconds.
        var pool = NewPool(2, shutdown: TimeSpan.FromSeconds(40));
        await pool.MapAsync<long, long>("builtins:abs", [1L, 2L], 1, Timeout); // both workers warm
        var calls = Enumerable.Range(0, 2).Select(_ => pool.ApplyAsync<double>("__main__:spin_for", [60.0], Timeout)).ToList();
        await Task.Delay(500, Timeout);
        var sw = Stopwatch.StartNew();
        await Task.Run(pool.Dispose, Timeout).WaitAsync(TimeSpan.FromSeconds(60), Timeout);
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "disposal waited for the spinning calls instead of interrupting them");
        Assert.That(pool.AliveWorkers, Is.EqualTo(0));
        foreach (var call in calls)
        {
            Assert.ThrowsAsync<ObjectDisposedException>(async () => await call.WaitAsync(TimeSpan.FromSeconds(5), Timeout));
        }
    }

    [Test]
    public async Task Cancelling_before_dispatch_cancels_the_call()
    {
        await using var pool = NewPool(1);
        var busy = pool.ApplyAsync<double>("__main__:nap", [0.5], Timeout);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Timeout);
        var queued = pool.ApplyAsync<long>("__main__:add", [1L, 2L], cts.Token);
        cts.Cancel();
        var e = Assert.CatchAsync<OperationCanceledException>(() => queued)!;
        Assert.That(e.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(await busy, Is.EqualTo(0.5));
    }

    [Test]
    public async Task Channels_carry_values_between_dotnet_and_interpreters()
    {
        await using var pool = NewPool(2);
        string inbox = "in-" + Guid.NewGuid(), outbox = "out-" + Guid.NewGuid();
        var relays = new[] { pool.ApplyAsync<long>("__main__:relay", [inbox, outbox, 3L], Timeout), pool.ApplyAsync<long>("__main__:relay", [inbox, outbox, 3L], Timeout) };
        for (long i = 0; i < 6; i++) InterpreterPool.Channel(inbox).Send(new Dictionary<string, object?> { ["x"] = i, ["data"] = new byte[] { 1, 2, (byte)i } });
        var twice = new List<long>();
        for (int i = 0; i < 6; i++)
        {
            var item = (Dictionary<object, object?>)(await InterpreterPool.Channel(outbox).ReceiveAsync(Timeout))!;
            twice.Add((long)item["twice"]!);
            Assert.That(((byte[])item["data"]!)[1..], Is.EqualTo(new byte[] { 2, 1 }));
        }
        Assert.That(twice, Is.EquivalentTo(new long[] { 0, 2, 4, 6, 8, 10 }));
        Assert.That(await Task.WhenAll(relays).WaitAsync(TimeSpan.FromSeconds(30), Timeout), Is.EqualTo(new[] { 3L, 3L }));
        Assert.That(await pool.ApplyAsync<string>("__main__:recv_with_timeout", ["empty-" + Guid.NewGuid()], Timeout), Does.StartWith("no value on channel"));
    }

    [Test]
    public async Task Buffers_travel_through_shared_memory_without_copies()
    {
        await using var pool = NewPool(1);
        using var segment = SharedMemorySegment.Create(1 << 20);
        try
        {
            var span = segment.AsSpan();
            for (int i = 0; i < span.Length; i++) span[i] = (byte)(i % 7);
            long expected = 0;
            foreach (byte b in span) expected += b;
            Assert.That(await pool.ApplyAsync<long>("__main__:shm_sum", [segment.Name, (long)span.Length], Timeout), Is.EqualTo(expected));
            Assert.That(segment.AsSpan()[0], Is.EqualTo(42), "the interpreter wrote into the same pages");
        }
        finally
        {
            segment.Unlink();
        }
    }

    [Test]
    public void An_initializer_that_raises_breaks_the_pool_at_creation()
    {
        var e = Assert.Throws<BrokenPoolException>(() => new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, Initializer = "1/0" }))!;
        Assert.That(e.Message, Does.Contain("ZeroDivisionError"));
    }

    private const string PathProbe = "import sys\ndef path():\n    return list(sys.path)\ndef seen():\n    return 42\n";

    /// <summary>Waits, bounded (30 s), until at least <paramref name="ready"/> spares are ready and none is being made.</summary>
    private async Task WaitForSparesAsync(int ready, string failure)
    {
        var sw = Stopwatch.StartNew();
        while (InterpreterPool.Spare.Count is var (r, starting) && (r < ready || starting))
        {
            Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), $"{failure} (ready, starting: {InterpreterPool.Spare.Count})");
            await Task.Delay(10, Timeout);
        }
    }

    /// <summary>Creates a pool (which leaves a spare behind) and waits, bounded, until the spare is ready.</summary>
    private async Task<List<string>> LeaveASpareAsync(string dir)
    {
        List<string> coldPath;
        await using (var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, PythonPath = { dir }, Initializer = PathProbe, UseSpare = false }))
        {
            coldPath = await pool.ApplyAsync<List<string>>("__main__:path", [], Timeout);
        }
        await using (var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1 }))
        {
            await pool.ApplyAsync<long>("builtins:abs", [-1L], Timeout);
        }
        await WaitForSparesAsync(1, "no spare interpreter became ready");
        return coldPath;
    }

    [Test]
    public async Task Prepare_makes_spares_that_the_next_pool_adopts()
    {
        if (Environment.ProcessorCount < 2) Assert.Ignore("one spare per CPU: this machine has one");
        Assert.Throws<ArgumentOutOfRangeException>(() => InterpreterPool.Prepare(0));
        InterpreterPool.Prepare(2);
        await WaitForSparesAsync(2, "Prepare(2) did not make two spares");
        int adopted = InterpreterPool.Spare.Adopted;
        await using var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 2, Initializer = PathProbe });
        Assert.That(InterpreterPool.Spare.Adopted, Is.EqualTo(adopted + 2));
        Assert.That(await pool.ApplyAsync<long>("__main__:seen", [], Timeout), Is.EqualTo(42L));
    }

    [Test]
    public async Task A_pool_of_two_leaves_two_spares_and_the_next_pool_of_two_adopts_both()
    {
        if (Environment.ProcessorCount < 2) Assert.Ignore("one spare per CPU: this machine has one");
        await using (var first = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 2 }))
        {
            await first.ApplyAsync<long>("builtins:abs", [-1L], Timeout);
        }
        await WaitForSparesAsync(2, "two spares did not become ready");
        int adopted = InterpreterPool.Spare.Adopted;
        await using var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 2, Initializer = PathProbe });
        Assert.That(InterpreterPool.Spare.Adopted, Is.EqualTo(adopted + 2), "both workers adopted a spare");
        var seen = await pool.StarmapAsync<long>("__main__:seen", Enumerable.Range(0, 8).Select(_ => Array.Empty<object?>()), 1, Timeout);
        Assert.That(seen, Has.All.EqualTo(42L), "the initializer ran in both adopted interpreters");
    }

    [Test]
    public async Task A_new_pool_adopts_the_spare_interpreter_with_its_own_path_and_initializer()
    {
        var dir = Directory.CreateTempSubdirectory("interp-spare-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "interp_spare_calc.py"), "def triple(x):\n    return 3 * x\n");
            var coldPath = await LeaveASpareAsync(dir);
            int adopted = InterpreterPool.Spare.Adopted;
            int ready = InterpreterPool.Spare.Count.Ready; // 1, or 2 when an earlier pool of 2 left two
            await using var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 2, PythonPath = { dir }, Initializer = PathProbe });
            Assert.That(InterpreterPool.Spare.Adopted, Is.EqualTo(adopted + Math.Min(ready, 2)), "each ready spare was adopted, the other worker (if any) started afresh");
            // Both workers (whichever runs which call) have the pool's path and initializer.
            var paths = await pool.StarmapAsync<List<string>>("__main__:path", Enumerable.Range(0, 8).Select(_ => Array.Empty<object?>()), 1, Timeout);
            Assert.That(paths, Has.All.EqualTo(coldPath));
            Assert.That(await pool.MapAsync<long, long>("interp_spare_calc:triple", [1L, 2L, 14L], 1, Timeout), Is.EqualTo(new[] { 3L, 6L, 42L }));
            Assert.That(await pool.ApplyAsync<long>("__main__:seen", [], Timeout), Is.EqualTo(42L));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public async Task UseSpare_false_leaves_the_spare_alone()
    {
        var dir = Directory.CreateTempSubdirectory("interp-spare-").FullName;
        try
        {
            await LeaveASpareAsync(dir);
            int adopted = InterpreterPool.Spare.Adopted;
            await using (var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, UseSpare = false }))
            {
                Assert.That(await pool.ApplyAsync<long>("builtins:abs", [-5L], Timeout), Is.EqualTo(5L));
            }
            Assert.That(InterpreterPool.Spare.Adopted, Is.EqualTo(adopted));
            Assert.That(InterpreterPool.Spare.Count.Ready, Is.GreaterThan(0));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public async Task Site_runs_once_in_the_main_interpreter_and_workers_get_its_path()
    {
        bool deferred;
        List<string> mainPath;
        using (Gil.Acquire())
        {
            using var check = Py.Eval("__import__('sys').flags.no_site == 1 and 'site' in __import__('sys').modules");
            deferred = check.As<bool>();
            using var path = Py.Eval("list(__import__('sys').path)");
            mainPath = path.As<List<string>>();
        }
        if (!deferred) Assert.Ignore("this process's Python was started with site (hosted, or not through PythonRuntime on 3.12+)");
        await using var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, UseSpare = false, Initializer = "import sys\ndef probe():\n    return ['site' in sys.modules, list(sys.path)]\n" });
        var probe = await pool.ApplyAsync<object?[]>("__main__:probe", [], Timeout);
        Assert.That(probe[0], Is.False, "a worker does not import site again");
        Assert.That(probe[1], Is.EqualTo(mainPath), "a worker gets the main interpreter's sys.path (site-packages included)");
    }

    [Test]
    public async Task Modules_on_PythonPath_are_importable()
    {
        var dir = Directory.CreateTempSubdirectory("interp-path-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "interp_calc.py"), "def triple(x):\n    return 3 * x\n");
            await using var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 1, PythonPath = { dir } });
            Assert.That(await pool.ApplyAsync<long>("interp_calc:triple", [14L], Timeout), Is.EqualTo(42L));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
