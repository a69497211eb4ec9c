using Bridge.Interop;

namespace Bridge.Tests;

/// <summary>
/// <see cref="ProcessPool"/> with <see cref="ProcessPoolOptions.PythonWorkers"/> = <see cref="PythonWorkers.Interpreters"/>:
/// the one pool core runs its Python workers as sub-interpreters in this process (issue 7). Python 3.12+ only:
/// skipped with the reason elsewhere.
/// </summary>
[NonParallelizable]
public class ProcessPoolInterpreterWorkersTests
{
    private CancellationTokenSource? _timeout;
    private string _dir = "";

    private CancellationToken Timeout => _timeout!.Token;

    [SetUp]
    public void SetUp()
    {
        InterpreterPoolTests.RequireInterpreters();
        _timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        _dir = Directory.CreateTempSubdirectory("dotbridge-pp-interp-").FullName;
        File.WriteAllText(Path.Combine(_dir, "ppinterp_mod.py"), """
            import os, _thread
            STATE = {}

            def setup(tag, n):
                STATE['tag'] = f'{tag}-{n}'

            def tagged(x):
                return f"{STATE.get('tag')}:{x}"

            def where():
                return [os.getpid(), _thread.get_ident()]

            def square(x):
                return x * x

            def fail_setup():
                raise LookupError('no such setting')

            CALLS = [0]

            def exit_worker(code):
                import sys
                sys.exit(code)

            def bump():
                CALLS[0] += 1
                return CALLS[0]
            """);
    }

    [TearDown]
    public void TearDown()
    {
        _timeout?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private ProcessPoolOptions Options(int n) => new()
    {
        Processes = n,
        PythonWorkers = PythonWorkers.Interpreters,
        InterpreterPython = new PythonOptions { LibraryPath = InterpreterPoolTests.LibPython() },
        PythonPath = { _dir },
    };

    [Test]
    public async Task Python_calls_run_in_sub_interpreters_of_this_process_on_distinct_threads()
    {
        await using var pool = new ProcessPool(Options(2));
        var where = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => pool.ApplyAsync<long[]>("ppinterp_mod:where", [], Timeout)));
        Assert.That(where.Select(w => w[0]).Distinct(), Is.EqualTo(new long[] { Environment.ProcessId }), "the workers live in this process");
        Assert.That(await pool.ApplyAsync<long>("os:getpid", [], Timeout), Is.EqualTo((long)Environment.ProcessId));
        Assert.That(pool.PythonExecutable, Does.Contain("python"), "sys.executable of the embedded Python");
    }

    [Test]
    public async Task Map_imap_and_errors_behave_as_with_process_workers()
    {
        await using var pool = new ProcessPool(Options(2));
        long[] items = [.. Enumerable.Range(0, 50).Select(i => (long)i)];
        Assert.That(await pool.MapAsync<long, long>("ppinterp_mod:square", items, 0, Timeout), Is.EqualTo(items.Select(i => i * i)));
        var ordered = new List<long>();
        await foreach (var r in pool.ImapAsync<long, long>("ppinterp_mod:square", items, 3, Timeout)) ordered.Add(r);
        Assert.That(ordered, Is.EqualTo(items.Select(i => i * i)));
        var unordered = new List<long>();
        await foreach (var r in pool.ImapUnorderedAsync<long, long>("ppinterp_mod:square", items, 1, Timeout)) unordered.Add(r);
        Assert.That(unordered, Is.EquivalentTo(items.Select(i => i * i)));
        var e = Assert.ThrowsAsync<PythonException>(() => pool.ApplyAsync<long>("ppinterp_mod:square", ["x"], Timeout))!;
        Assert.That(e.PythonType, Is.EqualTo("builtins.TypeError"));
        Assert.That(e.Traceback, Does.Contain("return x * x"));
        var t = Assert.ThrowsAsync<PythonException>(() => pool.ApplyAsync<long>("ppinterp_mod:nope", [], Timeout))!;
        Assert.That(t.Kind, Is.EqualTo("target"));
        Assert.That(t.PythonType, Is.EqualTo("builtins.AttributeError"));
        Assert.That(await pool.ApplyAsync<long>("ppinterp_mod:square", [9L], Timeout), Is.EqualTo(81L), "the pool keeps serving");
    }

    [Test]
    public async Task Dotnet_methods_still_run_in_dotnet_worker_processes()
    {
        await using var pool = new ProcessPool(Options(1));
        long primes = await pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), [0L, 100L], Timeout);
        Assert.That(primes, Is.EqualTo(25L));
        Assert.That(await pool.ApplyAsync<long>("ppinterp_mod:square", [12L], Timeout), Is.EqualTo(144L));
    }

    [Test]
    public async Task The_initializer_runs_in_every_interpreter_worker_with_its_arguments()
    {
        var options = Options(2);
        options.Initializer = "ppinterp_mod:setup";
        options.InitArgs.Add("init");
        options.InitArgs.Add(7L);
        await using var pool = new ProcessPool(options);
        var tags = await pool.MapAsync<long, string>("ppinterp_mod:tagged", [1L, 2L, 3L, 4L], 1, Timeout);
        Assert.That(tags, Is.EqualTo(new[] { "init-7:1", "init-7:2", "init-7:3", "init-7:4" }));
    }

    [Test]
    public async Task Sys_exit_in_a_task_ends_its_worker_as_in_a_process_and_the_worker_is_replaced()
    {
        await using var pool = new ProcessPool(Options(1));
        var e = Assert.ThrowsAsync<WorkerCrashedException>(() => pool.ApplyAsync<long>("ppinterp_mod:exit_worker", [3L], Timeout))!;
        Assert.That(e.ExitCode, Is.EqualTo(3));
        Assert.That(e.Message, Does.Contain("interpreter worker"));
        Assert.That(await pool.ApplyAsync<long>("ppinterp_mod:square", [7L], Timeout), Is.EqualTo(49L), "a fresh interpreter took over");
    }

    [Test]
    public async Task Max_tasks_per_child_replaces_the_interpreter_with_a_fresh_one()
    {
        var options = Options(1);
        options.MaxTasksPerChild = 2;
        await using var pool = new ProcessPool(options);
        var counts = new List<long>();
        for (int i = 0; i < 6; i++)
        {
            counts.Add(await pool.ApplyAsync<long>("ppinterp_mod:bump", [], Timeout));
        }
        Assert.That(counts, Is.EqualTo(new long[] { 1, 2, 1, 2, 1, 2 }), "each interpreter ran two calls, then a fresh one (module state anew) took over");
    }

    [Test]
    public void A_raising_initializer_breaks_the_python_kind_with_its_error()
    {
        var options = Options(1);
        options.Initializer = "ppinterp_mod:fail_setup";
        using var pool = new ProcessPool(options);
        var e = Assert.ThrowsAsync<BrokenPoolException>(() => pool.ApplyAsync<long>("ppinterp_mod:square", [2L], Timeout).WaitAsync(TimeSpan.FromSeconds(60)))!;
        Assert.That(e.Message, Does.Contain("LookupError"));
        Assert.That(e.Message, Does.Contain("no such setting"));
    }
}
